//! The signaling socket to `/ws`, reconnecting by itself after a network blip.
//!
//! One socket at a time. When it closes, the owner hears [`SignalEvent::Lost`] and a new
//! socket is opened after a random delay in a window that grows with each failed attempt, and
//! grows less while the server keeps the tab's call for it ([`crate::reconnect`]), until one
//! opens.
//!
//! Each socket proves its work before it may call (`crate::proof`): the server's challenge,
//! when it asks for one, is the first thing it says, and is solved at once, while the page
//! loads ([`super::proof`]). Until the server accepts the proof, Call and Next are held here
//! and sent right after, so the machine never waits for the proof nor hears that it was
//! missing.

use super::{proof, timeline};
use crate::protocol::{ClientMsg, ServerMsg};
use crate::reconnect::{self, Waiting};
use crate::wire;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

/// What the socket reports to its owner.
pub(crate) enum SignalEvent {
    /// A socket opened (the first one, or after a reconnect). The server sees a new session.
    Open,
    /// A message from the server.
    Message(ServerMsg),
    /// The socket closed; a reconnect is scheduled.
    Lost,
}

/// The JS callbacks of the current socket, kept alive as long as it is.
struct Handlers {
    _open: Closure<dyn FnMut(Event)>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
}

/// A handle on the signaling socket; cheap to copy.
#[derive(Clone, Copy)]
pub(crate) struct Signaling {
    socket: StoredValue<Option<WebSocket>, LocalStorage>,
    handlers: StoredValue<Option<Handlers>, LocalStorage>,
    on_event: StoredValue<Rc<dyn Fn(SignalEvent)>, LocalStorage>,
    /// Failed attempts since the last open, for the reconnect delay.
    attempts: StoredValue<u32>,
    /// What waits for the tab while it reconnects, as its owner said when the socket was lost.
    waiting: StoredValue<Waiting>,
    /// Set by [`Signaling::stop`]: no more reconnecting (the server refused us for good).
    stopped: StoredValue<bool>,
    /// Where the current socket stands with its proof of work.
    proof: StoredValue<Proof>,
    /// Call or Next pressed before the proof was accepted, sent once it is.
    held: StoredValue<Vec<ClientMsg>>,
    /// Counts challenges and sockets, so a solve for one that is gone is thrown away.
    challenges: StoredValue<u32>,
}

/// The current socket and the proof of work.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Proof {
    /// Nothing heard yet: the server may still ask for one (a challenge comes first if so).
    Unheard,
    /// A challenge is being solved, or its answer is on the way.
    Proving,
    /// Accepted, or none asked: Call goes straight out.
    Done,
}

impl Signaling {
    /// Opens the socket; `on_event` hears everything that happens to it.
    pub fn connect(on_event: impl Fn(SignalEvent) + 'static) -> Self {
        let signaling = Signaling {
            socket: StoredValue::new_local(None),
            handlers: StoredValue::new_local(None),
            on_event: StoredValue::new_local(Rc::new(on_event)),
            attempts: StoredValue::new(0),
            waiting: StoredValue::new(Waiting::Nothing),
            stopped: StoredValue::new(false),
            proof: StoredValue::new(Proof::Unheard),
            held: StoredValue::new(Vec::new()),
            challenges: StoredValue::new(0),
        };
        signaling.open();
        signaling
    }

    /// Sends a message if the socket is open; returns whether it went out (or waits for the
    /// proof of work, for Call and Next).
    pub fn send(&self, msg: &ClientMsg) -> bool {
        if self.is_open() && self.proof.get_value() != Proof::Done {
            match msg {
                ClientMsg::Call { .. } | ClientMsg::Next => {
                    self.held.update_value(|held| held.push(msg.clone()));
                    return true;
                }
                // A Call still held would start a search after the visitor stopped.
                ClientMsg::End => self.held.update_value(Vec::clear),
                _ => {}
            }
        }
        self.send_now(msg)
    }

    fn is_open(&self) -> bool {
        self.socket.with_value(|socket| {
            socket
                .as_ref()
                .is_some_and(|ws| ws.ready_state() == WebSocket::OPEN)
        })
    }

    fn send_now(&self, msg: &ClientMsg) -> bool {
        self.socket.with_value(|socket| match socket {
            Some(ws) if ws.ready_state() == WebSocket::OPEN => {
                ws.send_with_str(&wire::encode(msg)).is_ok()
            }
            _ => false,
        })
    }

    /// Paces the attempts to reconnect for what waits for the tab. The owner says so when it
    /// hears [`SignalEvent::Lost`], before the next attempt is scheduled.
    pub fn pace(&self, waiting: Waiting) {
        self.waiting.set_value(waiting);
    }

    /// Stops reconnecting once the current socket closes.
    pub fn stop(&self) {
        self.stopped.set_value(true);
    }

    fn emit(&self, event: SignalEvent) {
        let on_event = self.on_event.with_value(Rc::clone);
        on_event(event);
    }

    fn open(self) {
        let Ok(ws) = WebSocket::new(&socket_url()) else {
            self.reconnect_later();
            return;
        };
        let open = Closure::<dyn FnMut(Event)>::new(move |_| {
            self.attempts.set_value(0);
            self.emit(SignalEvent::Open);
        });
        let message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let Some(text) = e.data().as_string() else {
                return;
            };
            match wire::decode(&text) {
                Ok(msg) => {
                    self.follow_proof(&msg);
                    self.emit(SignalEvent::Message(msg));
                }
                Err(err) => leptos::logging::warn!("ignoring unreadable server message: {err}"),
            }
        });
        let close = Closure::<dyn FnMut(CloseEvent)>::new(move |_| {
            self.socket.set_value(None);
            // The next socket is a new session with a challenge of its own.
            self.proof.set_value(Proof::Unheard);
            self.held.update_value(Vec::clear);
            self.challenges.update_value(|n| *n = n.wrapping_add(1));
            self.emit(SignalEvent::Lost);
            self.reconnect_later();
        });
        ws.set_onopen(Some(open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(close.as_ref().unchecked_ref()));
        self.socket.set_value(Some(ws));
        self.handlers.set_value(Some(Handlers {
            _open: open,
            _message: message,
            _close: close,
        }));
    }

    /// Moves the proof of work along with what the server said.
    fn follow_proof(self, msg: &ServerMsg) {
        match msg {
            ServerMsg::Challenge { seed, bits, .. } => self.prove(seed.clone(), *bits),
            ServerMsg::ProofAccepted => self.proof_done(),
            // The server greets without a challenge when it asks for no proof.
            _ if self.proof.get_value() == Proof::Unheard => self.proof_done(),
            _ => {}
        }
    }

    /// Solves a challenge in the background and sends the answer.
    fn prove(self, seed: String, bits: u8) {
        self.proof.set_value(Proof::Proving);
        self.challenges.update_value(|n| *n = n.wrapping_add(1));
        let challenge = self.challenges.get_value();
        let wanted = move || self.challenges.try_get_value() == Some(challenge);
        spawn_local(async move {
            let started = proof::now_ms();
            let Some(nonce) = proof::solve(&seed, bits, wanted).await else {
                return;
            };
            if !wanted() {
                return;
            }
            // Whole milliseconds: formatting a float would bring float printing into the wasm.
            let took = (proof::now_ms() - started).round() as u64;
            // Nonces are tried from 0, so the nonce found says how many hashes it took.
            let hashes = nonce.saturating_add(1);
            timeline::mark(|| {
                Some(format!(
                    "proof solved ({bits} bits, {hashes} hashes, {took} ms)"
                ))
            });
            self.send_now(&ClientMsg::Proof { nonce });
        });
    }

    /// The socket may call: what was held goes out.
    fn proof_done(self) {
        self.proof.set_value(Proof::Done);
        let held = self
            .held
            .try_update_value(std::mem::take)
            .unwrap_or_default();
        for msg in &held {
            self.send_now(msg);
        }
    }

    fn reconnect_later(self) {
        if self.stopped.get_value() {
            return;
        }
        let attempts = self.attempts.get_value();
        self.attempts.set_value(attempts.saturating_add(1));
        // Soon after a blip, spread out after a restart (see `reconnect`).
        let delay = reconnect::delay(attempts, self.waiting.get_value(), js_sys::Math::random());
        set_timeout(move || self.open(), delay);
    }
}

/// `ws://` or `wss://` to this page's own host, with the visitor key this browser keeps.
fn socket_url() -> String {
    let location = window().location();
    let scheme = match location.protocol().as_deref() {
        Ok("https:") => "wss",
        _ => "ws",
    };
    let host = location.host().unwrap_or_default();
    // Only what the server issued is sent back (hex digits: nothing to escape).
    let hex = |s: &String| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut query = Vec::new();
    if let Some(key) = super::prefs::visitor_key().filter(hex) {
        query.push(format!("visitor={key}"));
    }
    if let Some(token) = super::prefs::resume_token().filter(hex) {
        query.push(format!("resume={token}"));
    }
    match query.is_empty() {
        true => format!("{scheme}://{host}/ws"),
        false => format!("{scheme}://{host}/ws?{}", query.join("&")),
    }
}
