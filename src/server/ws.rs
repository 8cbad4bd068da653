//! The signaling socket at `/ws`: one task per connected tab.
//!
//! The handler only upgrades. The task registers a session, then `select!`s over the
//! browser's frames, the session's outbound queue, presence updates, the heartbeat and server
//! shutdown; whatever ends the loop, the one teardown at the bottom unregisters the session,
//! so no session is ever left behind.

use crate::protocol::{self, ErrorCode, ServerMsg};
use crate::server::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use std::time::Duration;
use tokio::time::Instant;

/// `GET /ws`: upgrades to a WebSocket with the configured frame size limit.
pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    let limit = state.config.max_message_bytes;
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| run_session(socket, state))
}

/// Why a session's loop ended, for the log.
#[derive(Debug)]
enum Exit {
    ClientClosed,
    SocketError,
    HeartbeatTimeout,
    TooSlow,
    ServerShutdown,
}

async fn run_session(mut socket: WebSocket, state: AppState) {
    let (id, mut outbox) = state.hub.register();
    let mut online = state.presence.clone();
    online.borrow_and_update();
    tracing::debug!(session = %id, "connected");

    let heartbeat_every = state.config.heartbeat_interval;
    let heartbeat_timeout = state.config.heartbeat_timeout;
    let mut heartbeat = tokio::time::interval_at(Instant::now() + heartbeat_every, heartbeat_every);
    let mut last_heard = Instant::now();

    let hello = ServerMsg::Online {
        count: crate::server::presence::count(&state.hub),
    };
    let exit = if send(&mut socket, &hello).await.is_err() {
        Exit::SocketError
    } else {
        loop {
            tokio::select! {
                frame = socket.recv() => {
                    last_heard = Instant::now();
                    match frame {
                        Some(Ok(Message::Text(text))) => {
                            let reply = match protocol::decode_client(&text) {
                                Ok(msg) => state.hub.handle(id, msg).err().map(|e| e.to_msg()),
                                Err(e) => Some(ServerMsg::error(
                                    ErrorCode::BadMessage,
                                    format!("not a valid message: {e}"),
                                )),
                            };
                            if let Some(reply) = reply {
                                if send(&mut socket, &reply).await.is_err() {
                                    break Exit::SocketError;
                                }
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            let reply = ServerMsg::error(
                                ErrorCode::BadMessage,
                                "binary frames are not part of the protocol; send JSON text",
                            );
                            if send(&mut socket, &reply).await.is_err() {
                                break Exit::SocketError;
                            }
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => break Exit::ClientClosed,
                        Some(Err(_)) => break Exit::SocketError,
                    }
                }
                queued = outbox.recv() => match queued {
                    Some(msg) => {
                        if send(&mut socket, &msg).await.is_err() {
                            break Exit::SocketError;
                        }
                    }
                    // The hub dropped our queue because this browser fell too far behind.
                    None => break Exit::TooSlow,
                },
                Ok(()) = online.changed() => {
                    let count = *online.borrow_and_update();
                    if send(&mut socket, &ServerMsg::Online { count }).await.is_err() {
                        break Exit::SocketError;
                    }
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > heartbeat_timeout {
                        break Exit::HeartbeatTimeout;
                    }
                    // Browsers answer pings by themselves; the pong counts as hearing from them.
                    if socket.send(Message::Ping(Default::default())).await.is_err() {
                        break Exit::SocketError;
                    }
                }
                _ = state.shutdown.cancelled() => break Exit::ServerShutdown,
            }
        }
    };

    state.hub.unregister(id);
    // The socket may already be gone; a failed goodbye changes nothing.
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(None))).await;
    tracing::debug!(session = %id, reason = ?exit, "disconnected");
}

async fn send(socket: &mut WebSocket, msg: &ServerMsg) -> Result<(), axum::Error> {
    socket
        .send(Message::Text(protocol::encode(msg).into()))
        .await
}
