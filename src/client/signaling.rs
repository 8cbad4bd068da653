//! The signaling socket to `/ws`, reconnecting by itself after a network blip.
//!
//! One socket at a time. When it closes, the owner hears [`SignalEvent::Lost`] and a new
//! socket is opened after a random delay in a window that grows with each failed attempt
//! ([`crate::reconnect`]), until one opens.

use crate::protocol::{ClientMsg, ServerMsg};
use crate::reconnect;
use crate::wire;
use leptos::prelude::*;
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
    /// Set by [`Signaling::stop`]: no more reconnecting (the server refused us for good).
    stopped: StoredValue<bool>,
}

impl Signaling {
    /// Opens the socket; `on_event` hears everything that happens to it.
    pub fn connect(on_event: impl Fn(SignalEvent) + 'static) -> Self {
        let signaling = Signaling {
            socket: StoredValue::new_local(None),
            handlers: StoredValue::new_local(None),
            on_event: StoredValue::new_local(Rc::new(on_event)),
            attempts: StoredValue::new(0),
            stopped: StoredValue::new(false),
        };
        signaling.open();
        signaling
    }

    /// Sends a message if the socket is open; returns whether it went out.
    pub fn send(&self, msg: &ClientMsg) -> bool {
        self.socket.with_value(|socket| match socket {
            Some(ws) if ws.ready_state() == WebSocket::OPEN => {
                ws.send_with_str(&wire::encode(msg)).is_ok()
            }
            _ => false,
        })
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
                Ok(msg) => self.emit(SignalEvent::Message(msg)),
                Err(err) => leptos::logging::warn!("ignoring unreadable server message: {err}"),
            }
        });
        let close = Closure::<dyn FnMut(CloseEvent)>::new(move |_| {
            self.socket.set_value(None);
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

    fn reconnect_later(self) {
        if self.stopped.get_value() {
            return;
        }
        let attempts = self.attempts.get_value();
        self.attempts.set_value(attempts.saturating_add(1));
        // Soon after a blip, spread out after a restart (see `reconnect`).
        let delay = reconnect::delay(attempts, js_sys::Math::random());
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
    match super::prefs::visitor_key() {
        // Only a key the server issued is sent back (32 hex digits: nothing to escape).
        Some(key) if key.bytes().all(|b| b.is_ascii_hexdigit()) => {
            format!("{scheme}://{host}/ws?visitor={key}")
        }
        _ => format!("{scheme}://{host}/ws"),
    }
}
