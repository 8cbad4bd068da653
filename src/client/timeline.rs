//! An opt-in timeline of what the page does during a call, for measuring click to video
//! (docs/BENCHMARKS.md, row 5). It records only when the page has a `window.__duetTimeline`
//! array (the end-to-end tests' fixture sets one): visitors' pages record nothing, and the
//! label of an event is not even built.
//!
//! Each entry is `{ t, what }`, `t` in milliseconds since the epoch with sub-millisecond
//! precision (`performance.timeOrigin + performance.now()`), so the marks of two pages and
//! the test's own clock line up on one axis.

use super::machine::{Command, Input};
use super::negotiation::{PeerCommand, PeerEvent, PeerReport};
use crate::protocol::{IceCandidate, ServerMsg};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

const TIMELINE: &str = "__duetTimeline";

/// Marks an input on the way from a click to a picture (not chat, typing or the count).
pub(crate) fn mark_input(input: &Input) {
    mark(|| match input {
        Input::Call(_) => Some("Call pressed".into()),
        Input::CameraOpened => Some("camera opened".into()),
        Input::Server(ServerMsg::Online { .. }) => None,
        Input::Server(msg) => Some(format!("received {}", msg.type_tag())),
        Input::Peer(PeerReport { role, event, .. }) => {
            let what = match event {
                PeerEvent::LocalDescription(_) => "local description set".into(),
                PeerEvent::RemoteDescribed => "remote description set".into(),
                PeerEvent::LocalCandidate(c) => format!("gathered {}", candidate_type(c)),
                PeerEvent::Connected => "connected".into(),
                PeerEvent::Disconnected => "disconnected".into(),
                PeerEvent::Failed => "failed".into(),
                PeerEvent::Quality(_) => return None,
            };
            Some(format!("{} {what}", <&str>::from(role)))
        }
        _ => None,
    })
}

/// Marks a command on the way from a click to a picture.
pub(crate) fn mark_command(command: &Command) {
    mark(|| match command {
        Command::Send(msg) => Some(format!("sent {}", msg.type_tag())),
        Command::OpenCamera => Some("opening camera".into()),
        Command::Peer(command) => match command {
            PeerCommand::Open { role, .. } => Some(format!("{} open", <&str>::from(role))),
            PeerCommand::CreateOffer { .. } => Some("peer1 create offer".into()),
            PeerCommand::RestartIce { .. } => Some("peer1 restart ICE".into()),
            PeerCommand::SetRemote { role, .. } => {
                Some(format!("{} set remote", <&str>::from(role)))
            }
            PeerCommand::CreateAnswer { .. } => Some("peer2 create answer".into()),
            PeerCommand::AddIce {
                role, candidate, ..
            } => Some(format!(
                "{} add {}",
                <&str>::from(role),
                candidate_type(candidate)
            )),
            PeerCommand::Close(role) => Some(format!("{} close", <&str>::from(role))),
            PeerCommand::ShowRemote(Some(role)) => Some(format!("{} shown", <&str>::from(role))),
            _ => None,
        },
        _ => None,
    })
}

/// Records `what()` now, if the page asked for a timeline and `what()` names something.
pub(crate) fn mark(what: impl FnOnce() -> Option<String>) {
    let window = leptos::prelude::window();
    let Some(timeline) = Reflect::get(&window, &JsValue::from_str(TIMELINE))
        .ok()
        .and_then(|t| t.dyn_into::<Array>().ok())
    else {
        return;
    };
    let Some(what) = what() else {
        return;
    };
    let t = window
        .performance()
        .map(|p| p.time_origin() + p.now())
        .unwrap_or_else(js_sys::Date::now);
    let entry = Object::new();
    let _ = Reflect::set(&entry, &JsValue::from_str("t"), &JsValue::from_f64(t));
    let _ = Reflect::set(
        &entry,
        &JsValue::from_str("what"),
        &JsValue::from_str(&what),
    );
    timeline.push(&entry);
}

/// "host udp", "srflx tcp"...: enough to tell which candidates a connection waited for.
fn candidate_type(candidate: &IceCandidate) -> String {
    let fields: Vec<&str> = candidate.candidate.split_whitespace().collect();
    let typ = fields
        .iter()
        .position(|f| *f == "typ")
        .and_then(|i| fields.get(i + 1))
        .unwrap_or(&"?");
    format!("{typ} {} candidate", fields.get(2).unwrap_or(&"?"))
}
