//! Property test of the matchmaker: many interleaved Call / Next / End / disconnect / expire /
//! relay sequences, with the matching invariants checked after every step.
#![cfg(feature = "ssr")]

use duet::protocol::{CallId, ClientMsg, Role, ServerMsg};
use duet::server::matchmaker::{Matchmaker, SessionId, SessionState};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::{HashMap, HashSet};

#[derive(Clone, Debug)]
enum Op {
    Join,
    Call(usize),
    CallWith(usize, Vec<String>, bool),
    /// Fires one of the pending preference-wait timers.
    WaitOver(usize),
    Next(usize),
    End(usize),
    Leave(usize),
    Expire(usize),
    Connected(usize, bool),
    Offer(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Join),
        4 => any::<usize>().prop_map(Op::Call),
        3 => (any::<usize>(), prop::collection::vec(prop::sample::select(vec!["chess", "jazz", "go"]).prop_map(String::from), 0..3), any::<bool>())
            .prop_map(|(i, tags, text)| Op::CallWith(i, tags, text)),
        2 => any::<usize>().prop_map(Op::WaitOver),
        3 => any::<usize>().prop_map(Op::Next),
        2 => any::<usize>().prop_map(Op::End),
        2 => any::<usize>().prop_map(Op::Leave),
        1 => any::<usize>().prop_map(Op::Expire),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| Op::Connected(i, b)),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| Op::Offer(i, b)),
    ]
}

fn pick(ids: &[SessionId], i: usize) -> Option<SessionId> {
    (!ids.is_empty()).then(|| ids[i % ids.len()])
}

fn current_call(mm: &Matchmaker, id: SessionId) -> Option<(CallId, SessionId)> {
    match mm.state(id)? {
        SessionState::InCall { call, partner } => Some((call, partner)),
        _ => None,
    }
}

fn check_invariants(mm: &Matchmaker, calls_before: &HashSet<CallId>) -> Result<(), TestCaseError> {
    let online: HashSet<SessionId> = mm.session_ids().into_iter().collect();
    let mut in_calls: HashMap<SessionId, CallId> = HashMap::new();
    for (call, [a, b]) in mm.call_sides() {
        prop_assert_ne!(a, b, "self-match");
        for (me, other) in [(a, b), (b, a)] {
            prop_assert!(online.contains(&me), "a call side is offline");
            prop_assert!(
                in_calls.insert(me, call).is_none(),
                "a session is in two calls"
            );
            prop_assert_eq!(
                mm.state(me),
                Some(SessionState::InCall {
                    call,
                    partner: other
                })
            );
        }
        // Two strangers who just left each other meet again only if nobody else either of
        // them would take is waiting.
        if !calls_before.contains(&call)
            && mm.last_partner(a) == Some(b)
            && mm.last_partner(b) == Some(a)
        {
            for z in mm.session_ids() {
                if z == a || z == b || mm.state(z) != Some(SessionState::Searching) {
                    continue;
                }
                for side in [a, b] {
                    prop_assert!(
                        !would_take(mm, side, z) || just_left(mm, side, z),
                        "two strangers who just left each other met again while someone else waits"
                    );
                }
            }
        }
    }
    let mut searching = 0;
    let waiting: Vec<SessionId> = online
        .iter()
        .copied()
        .filter(|id| mm.state(*id) == Some(SessionState::Searching))
        .collect();
    // Matching is instant: two waiting sessions that would take each other (both take anyone,
    // or they share a preference) would already be paired, unless they just left each other.
    for (i, x) in waiting.iter().enumerate() {
        for y in &waiting[i + 1..] {
            let would =
                (mm.takes_anyone(*x) && mm.takes_anyone(*y)) || mm.share_a_preference(*x, *y);
            prop_assert!(
                !would || just_left(mm, *x, *y),
                "two strangers who would take each other both wait"
            );
        }
    }
    for id in &online {
        let state = mm.state(*id).unwrap();
        match state {
            SessionState::Searching => searching += 1,
            SessionState::InCall { .. } => prop_assert!(in_calls.contains_key(id)),
            SessionState::Idle => {}
        }
        prop_assert_eq!(
            mm.calling_clicked(*id),
            state != SessionState::Idle,
            "calling_clicked out of step"
        );
    }
    prop_assert_eq!(searching, mm.searching());
    Ok(())
}

/// Whether `who`'s search would take the waiting `other`: both take anyone, or `who` is still
/// looking for a shared preference and `other` has one.
fn would_take(mm: &Matchmaker, who: SessionId, other: SessionId) -> bool {
    if mm.takes_anyone(who) {
        mm.takes_anyone(other)
    } else {
        mm.share_a_preference(who, other)
    }
}

/// `a` and `b` just left each other (one is the other's last stranger).
fn just_left(mm: &Matchmaker, a: SessionId, b: SessionId) -> bool {
    mm.last_partner(a) == Some(b) || mm.last_partner(b) == Some(a)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn matching_invariants_hold_after_every_step(seed: u64, ops in prop::collection::vec(op(), 1..120)) {
        let mut mm = Matchmaker::new(StdRng::seed_from_u64(seed));
        let mut ids: Vec<SessionId> = Vec::new();
        let mut waits: Vec<(SessionId, u64)> = Vec::new();
        for op in ops {
            let calls_before: HashSet<CallId> = mm.call_sides().into_iter().map(|(c, _)| c).collect();
            let mut sender_and_partner = None;
            let effects = match op {
                Op::Join => {
                    ids.push(mm.join());
                    None
                }
                Op::Call(i) => pick(&ids, i).map(|id| mm.handle(id, ClientMsg::call()).unwrap()),
                Op::CallWith(i, interests, text_only) => pick(&ids, i)
                    .map(|id| mm.handle(id, ClientMsg::Call { interests, text_only }).unwrap()),
                Op::WaitOver(i) => (!waits.is_empty()).then(|| {
                    let (id, gen) = waits.swap_remove(i % waits.len());
                    mm.open_search(id, gen)
                }),
                Op::Next(i) => pick(&ids, i).map(|id| mm.handle(id, ClientMsg::Next).unwrap()),
                Op::End(i) => pick(&ids, i).map(|id| mm.handle(id, ClientMsg::End).unwrap()),
                Op::Leave(i) => pick(&ids, i).map(|id| {
                    ids.retain(|x| *x != id);
                    mm.leave(id)
                }),
                Op::Expire(i) => {
                    let calls = mm.call_sides();
                    (!calls.is_empty()).then(|| mm.expire(calls[i % calls.len()].0))
                }
                Op::Connected(i, first) => pick(&ids, i).and_then(|id| {
                    let (call_id, _) = current_call(&mm, id)?;
                    let role = if first { Role::Peer1 } else { Role::Peer2 };
                    Some(mm.handle(id, ClientMsg::Connected { call_id, role }).unwrap())
                }),
                Op::Offer(i, stale) => pick(&ids, i).map(|id| {
                    let call = current_call(&mm, id);
                    let call_id = match (call, stale) {
                        (Some((c, _)), false) => c,
                        (Some((c, _)), true) => CallId(c.0 ^ 1),
                        (None, _) => CallId(i as u64),
                    };
                    let result = mm.handle(id, ClientMsg::Offer { call_id, sdp: "v=0".into() });
                    match (call, stale) {
                        (Some((_, partner)), false) => {
                            sender_and_partner = Some((id, partner));
                            result.unwrap()
                        }
                        _ => {
                            assert!(result.is_err(), "an offer outside the sender's call was accepted");
                            Default::default()
                        }
                    }
                }),
            };
            if let Some(effects) = &effects {
                waits.extend(effects.preference_waits.iter().copied());
            }
            if let Some(effects) = effects {
                let online: HashSet<SessionId> = mm.session_ids().into_iter().collect();
                for (to, msg) in &effects.messages {
                    prop_assert!(online.contains(to), "a message addressed to a session that left");
                    if let ServerMsg::Offer { .. } = msg {
                        let (_, partner) = sender_and_partner.expect("offers come only from a relay");
                        prop_assert_eq!(*to, partner, "an offer went to someone other than the partner");
                    }
                }
            }
            check_invariants(&mm, &calls_before)?;
        }
    }
}
