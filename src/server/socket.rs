//! The signaling socket at `/ws`: one task per connected tab.
//!
//! The handler checks the page's origin, works out the client address and admits it (not
//! banned, within its connection limits), then upgrades. The task registers a session and
//! `select!`s over the browser's frames, the session's outbound queue, presence updates, the
//! heartbeat and server shutdown; whatever ends the loop, the one teardown at the bottom
//! unregisters the session, so no session is ever left behind.
//!
//! Every refusal is decided in [`Refusal`]-producing code here and told to the client as an
//! `error` message; only the ones [`ErrorCode::closes_socket`] names end the connection.

use crate::protocol::{self, ClientKind, ClientMsg, ErrorCode, RawSdp, ServerMsg};
use crate::server::client_ip::{client_ip, origin_allowed};
use crate::server::limits::{ConnectionPermit, Refusal, TokenBucket};
use crate::server::matching::Visitor;
use crate::server::moderation::farewell;
use crate::server::presence::{self, Feed};
use crate::server::proof::ProofGate;
use crate::server::session::{Cut, SessionId, VisitorKey};
use crate::server::state::AppState;
use crate::server::switchboard::{Frame, Outbox, ResumeToken};
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Bytes read from a socket at a time. Every session keeps a buffer this big for its whole
/// life, so it is most of what an idle session costs: 2 KiB holds every message but an SDP or
/// a long chat line in one read (an SDP takes two or three), and keeps an idle session near
/// 6 KiB (docs/BENCHMARKS.md; 4 KiB made it 8.4 KiB, 8 KiB 16.8 KiB).
const READ_BUFFER: usize = 2 * 1024;
/// Bytes of frames a socket queues before it writes them, flushed or not. A single message is
/// written at once; several at a time (the greeting, a session's queue under load) go out
/// together, one system call per this many bytes (see [`Writer::send_frames`]): five SDP-sized
/// offers, or dozens of candidates. The buffer grows only as far as what was queued at once,
/// so an idle session pays for its greeting alone (docs/BENCHMARKS.md: 16 KiB measured
/// 1-2 µs less per relayed offer than 4 KiB, the idle session the same).
const WRITE_BUFFER: usize = 16 * 1024;
/// Frames of the session's queue written in one go at most (see [`Writer::send_queued`]).
const MAX_BATCH: usize = 32;
/// How far past `--max-message-bytes` tungstenite itself gives up on a message.
const HARD_CAP_FACTOR: usize = 16;

/// `GET /ws`: checks who is asking, then upgrades with the configured size limit.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    State(state): State<AppState>,
) -> Response {
    if !origin_allowed(&headers, &state.config.allowed_origins) {
        state.metrics.rejected("origin");
        return (
            StatusCode::FORBIDDEN,
            "Pages on other sites may not open a duet connection.",
        )
            .into_response();
    }
    let Some(ip) = client_ip(peer, &headers, &state.config.trusted_proxies) else {
        state.metrics.rejected("forwarded_for");
        return (
            StatusCode::BAD_REQUEST,
            "The proxy in front of duet sent an X-Forwarded-For header without a readable client address.",
        )
            .into_response();
    };
    // The address's keyed hash: whom a ban names, and (for blocks) who this visitor is.
    let subject = state.moderation.store().subject(ip);
    let admission = admit(&state, ip, &subject);
    // The key a returning browser kept (see `VisitorKey`); anything else earns a new one. And
    // the token of a tab coming back to its call.
    let query = query.as_deref().unwrap_or_default();
    let returning = Returning {
        key: query_param(query, "visitor").and_then(VisitorKey::parse),
        resume: query_param(query, "resume")
            .filter(|hex| hex.len() == 32)
            .and_then(|hex| u128::from_str_radix(hex, 16).ok()),
    };
    // The documented limit is checked on whole messages in the session loop, so an oversized
    // message is read to its end and the 1009 close reaches the client cleanly. tungstenite
    // only enforces a hard cap far above it, against a client that sends without end.
    let hard_cap = state
        .config
        .max_message_bytes
        .saturating_mul(HARD_CAP_FACTOR);
    // Small buffers: signaling messages are a few KiB at most, and tungstenite's defaults
    // (128 KiB each way, per socket) would cost gigabytes with tens of thousands of idle tabs.
    ws.max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| async move {
            match admission {
                Ok(permit) => run_session(socket, state, ip, subject, returning, permit).await,
                // Refusing after the upgrade lets the page read why and show it.
                Err(refusal) => refuse(socket, refusal).await,
            }
        })
}

/// Lets `ip` in, or says why not.
fn admit(state: &AppState, ip: IpAddr, subject: &str) -> Result<ConnectionPermit, ServerMsg> {
    if let Some(until) = state.moderation.banned_until(subject) {
        state.metrics.rejected("banned");
        return Err(farewell(until));
    }
    state
        .limiter
        .admit(ip, Instant::now())
        .map_err(|refusal| match refusal {
            Refusal::TooManyOpen => {
                state.metrics.rejected("too_many_open");
                ServerMsg::error(
                    ErrorCode::TooManyConnections,
                    "Too many duet tabs are open from your address. Close one and try again.",
                )
            }
            Refusal::ServerFull => {
                state.metrics.rejected("server_full");
                ServerMsg::error(
                    ErrorCode::ServerFull,
                    "duet is full right now. Try again in a few minutes.",
                )
            }
            Refusal::TooFast => {
                state.metrics.rejected("too_fast");
                ServerMsg::error(
                    ErrorCode::ConnectingTooFast,
                    "Too many connections from your address in the last minute. Wait a moment.",
                )
            }
        })
}

/// Why a session's loop ended, for the log.
#[derive(Debug)]
enum Exit {
    ClientClosed,
    SocketError,
    HeartbeatTimeout,
    MessageTooBig,
    /// A write did not finish within `--write-timeout`: the browser stopped reading.
    WriteTimeout,
    /// The switchboard cut the session off (it fell too far behind, or it was banned).
    Cut(Cut),
    ServerShutdown,
}

impl Exit {
    /// The tab may come back to its session: its socket went away without the tab ending
    /// anything (a reload, a closed tab, a lost network), and the server did not end it.
    fn may_return(&self) -> bool {
        matches!(
            self,
            Exit::ClientClosed | Exit::SocketError | Exit::HeartbeatTimeout
        )
    }
}

impl From<WriteError> for Exit {
    fn from(e: WriteError) -> Exit {
        match e {
            WriteError::Socket => Exit::SocketError,
            WriteError::TimedOut => Exit::WriteTimeout,
        }
    }
}

async fn refuse(socket: WebSocket, refusal: ServerMsg) {
    let mut socket = Writer::new(socket, Duration::from_secs(1));
    let _ = socket.send(&refusal).await;
    socket.close(close_code::POLICY, "refused").await;
}

/// What a socket says of its browser when it connects: the visitor key it kept, and the
/// resume token of a tab coming back to its call.
struct Returning {
    key: Option<VisitorKey>,
    resume: Option<ResumeToken>,
}

/// The value of `name` in a URL query (`a=1&b=2`); duet's values need no decoding.
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

async fn run_session(
    socket: WebSocket,
    state: AppState,
    ip: IpAddr,
    subject: String,
    returning: Returning,
    permit: ConnectionPermit,
) {
    let _tracked = state.sessions.token();
    let known = returning.key.is_some();
    let key = returning.key.unwrap_or_else(VisitorKey::random);
    let hash = state.moderation.store().visitor_hash(&key);
    // A tab back within the grace takes its session over, in its call; any other starts anew.
    let resumed = match returning.resume {
        // Boxed: on a site of several nodes it may await Redis (see the session's size above).
        Some(token) => Box::pin(state.switchboard.resume(token, &hash)).await,
        None => None,
    };
    let (id, mut outbox, resume, rejoin) = match resumed {
        Some(back) => (back.id, back.outbox, back.resume, Some(back.resumed)),
        None => {
            let visitor = Visitor {
                key: hash.clone(),
                addr: subject,
            };
            let (id, outbox, resume) = state.switchboard.register(ip, visitor);
            (id, outbox, resume, None)
        }
    };
    let mut online = state.presence.subscribe();
    tracing::debug!(session = %id, "connected");

    let config = &state.config;
    let mut heartbeat = tokio::time::interval_at(
        Instant::now() + config.heartbeat_interval,
        config.heartbeat_interval,
    );
    let mut last_heard = Instant::now();
    let bits = config.proof().bits_for(permit.recent_connects);
    let key_text = key.as_str().to_string();
    let mut guard = SessionGuard::new(&state, bits, key, Instant::now());

    let mut socket = Writer::new(socket, config.write_timeout);
    let greeted = presence::count(&state.switchboard);
    let hello = ServerMsg::Online { count: greeted };
    let mut feed = Feed::new(config.presence_interval, greeted, Instant::now());
    // The greeting owns what only it needs (the hash, a resumed call), so an idle session's
    // task does not keep them for its whole life.
    let challenge = guard.proof.challenge();
    let greeted = {
        let (socket, state) = (&mut socket, &state);
        async move {
            let blocked = match known {
                true => state.moderation.blocked_count(&hash).await,
                false => 0,
            };
            let visitor = ServerMsg::Visitor {
                key: key_text,
                blocked,
                resume: format!("{resume:032x}"),
            };
            let back = rejoin.is_some();
            socket
                .send_together(&greeting(challenge, hello, visitor, rejoin))
                .await?;
            if back {
                state.switchboard.back(id).await;
            }
            Ok::<(), WriteError>(())
        }
    };
    // Made once, not once per turn of the loop: every session waits on the same shutdown
    // signal, and a fresh wait each turn would join and leave its shared list every message.
    let shutdown = state.shutdown.cancelled();
    tokio::pin!(shutdown);
    let exit = match Box::pin(greeted).await {
        Err(e) => Exit::from(e),
        Ok(()) => loop {
            // In this order, not a random one: what is queued for the browser goes out before
            // more is read from it, and the rare branches (presence, heartbeat, shutdown) are
            // polled only when neither has work. A relayed offer wakes two tasks, and polling
            // every branch on each wake cost about 5% of the server's time per offer
            // (docs/BENCHMARKS.md, row 3). Nothing starves: what a partner can queue is held
            // to its message rate, so the queue empties and reads get their turn; and a
            // socket's reads yield to tokio's budget, which gives the rare branches theirs.
            tokio::select! {
                biased;
                queued = outbox.next() => match queued {
                    Ok(frame) => {
                        let (written, len) = socket.send_queued(frame, &mut outbox).await;
                        outbox.written(len);
                        if let Err(e) = written {
                            break e.into();
                        }
                        // The frame may have ended a call: the tab shows the count again.
                        let told = tell_count(&mut socket, &mut feed, &state, &outbox).await;
                        match told {
                            Ok(told) => rejoin_if_told(told, &mut online, &state),
                            Err(e) => break e.into(),
                        }
                    }
                    Err(cut) => break Exit::Cut(cut),
                },
                frame = socket.ws.recv() => {
                    last_heard = Instant::now();
                    let reply = match frame {
                        Some(Ok(ref message)) if payload_len(message) > config.max_message_bytes => {
                            break Exit::MessageTooBig;
                        }
                        Some(Ok(Message::Text(text))) => {
                            // Boxed: what handling a message awaits (the matching back end,
                            // Redis) is large, and every idle session would carry its room.
                            Box::pin(guard.handle(&state, id, ip, &text)).await
                        }
                        // Counted like any message, so binary frames cannot flood for free.
                        Some(Ok(Message::Binary(_))) => guard.refuse_binary(&state),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                        Some(Ok(Message::Close(_))) | None => break Exit::ClientClosed,
                        Some(Err(e)) if is_too_big(&e) => break Exit::MessageTooBig,
                        Some(Err(_)) => break Exit::SocketError,
                    };
                    if let Some(reply) = reply {
                        if let ServerMsg::Error { code, .. } = &reply {
                            state.metrics.error(*code);
                        }
                        if let Err(e) = socket.send(&reply).await {
                            break e.into();
                        }
                    }
                    if let Some(challenge) = guard.proof.take_reissued() {
                        if let Err(e) = socket.send(&challenge).await {
                            break e.into();
                        }
                    }
                }
                // A tab in a call hears no count, so its task is not even woken for one: at
                // 100,000 online, most are in calls, and each refresh of their slot would wake
                // them.
                Ok(()) = online.changed(), if !outbox.in_call() => {
                    online.borrow_and_update();
                    if let Err(e) = tell_count(&mut socket, &mut feed, &state, &outbox).await {
                        break e.into();
                    }
                }
                _ = sleep_until_owed(&feed), if feed.owed_at().is_some() => {
                    let told = tell_count(&mut socket, &mut feed, &state, &outbox).await;
                    match told {
                        Ok(told) => rejoin_if_told(told, &mut online, &state),
                        Err(e) => break e.into(),
                    }
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > config.heartbeat_timeout {
                        break Exit::HeartbeatTimeout;
                    }
                    // Browsers answer pings by themselves; the pong counts as hearing from them.
                    if let Err(e) = socket.ping().await {
                        break e.into();
                    }
                }
                _ = &mut shutdown => break Exit::ServerShutdown,
            }
        },
    };

    Box::pin(
        state
            .switchboard
            .disconnected(id, &outbox, exit.may_return()),
    )
    .await;
    tracing::debug!(session = %id, reason = ?exit, "disconnected");
    // Boxed, like every rare and large await here: an idle session's task is only as big as
    // its largest await, and it carries that room for its whole life.
    Box::pin(goodbye(socket, exit, outbox, &state)).await;
}

/// The first words to a new socket, in this order and in one write: its proof-of-work
/// challenge, if one is asked (first, so the page knows as soon as it hears anything whether
/// it must prove before it calls, and starts on it at once); the online count; the visitor's
/// key, blocks and resume token; and, for a tab back in its call, that call.
fn greeting(
    challenge: Option<ServerMsg>,
    online: ServerMsg,
    visitor: ServerMsg,
    resumed: Option<ServerMsg>,
) -> Vec<ServerMsg> {
    challenge
        .into_iter()
        .chain([online, visitor])
        .chain(resumed)
        .collect()
}

/// Tells the browser why its session ended, and closes the socket.
async fn goodbye(mut socket: Writer, exit: Exit, mut outbox: Outbox, state: &AppState) {
    match exit {
        Exit::MessageTooBig => {
            state.metrics.error(ErrorCode::MessageTooBig);
            let reply = ServerMsg::error(
                ErrorCode::MessageTooBig,
                format!(
                    "Messages may be at most {} bytes; closing.",
                    state.config.max_message_bytes
                ),
            );
            let _ = socket.send(&reply).await;
            socket.close(close_code::SIZE, "message too big").await;
        }
        Exit::ServerShutdown => {
            let _ = socket.send(&ServerMsg::ShuttingDown).await;
            socket.close(close_code::AWAY, "server shutting down").await;
        }
        Exit::Cut(cut) => {
            // What was queued before the cut (a ban's farewell) goes out first, within the
            // write timeout.
            while let Ok(frame) = outbox.next().await {
                if socket.send_queued(frame, &mut outbox).await.0.is_err() {
                    break;
                }
            }
            socket.close(close_code::POLICY, cut.reason()).await
        }
        Exit::WriteTimeout => {
            socket
                .close(close_code::POLICY, "too slow: writes time out")
                .await
        }
        Exit::HeartbeatTimeout => socket.close(close_code::AWAY, "no heartbeat").await,
        Exit::ClientClosed | Exit::SocketError => socket.close(close_code::NORMAL, "").await,
    }
}

/// Sends the tab the online count if its [`Feed`] says so, and says whether it did. The count
/// is read now, not as its slot last published it: the slot only says when to look (a tab
/// back from a call would otherwise be told what its slot saw up to an interval ago, older
/// than what the tabs of fresher slots were told meanwhile).
async fn tell_count(
    socket: &mut Writer,
    feed: &mut Feed,
    state: &AppState,
    outbox: &Outbox,
) -> Result<bool, WriteError> {
    let count = presence::count(&state.switchboard);
    match feed.poll(count, outbox.in_call(), Instant::now()) {
        Some(count) => socket
            .send(&ServerMsg::Online { count })
            .await
            .map(|()| true),
        None => Ok(false),
    }
}

/// A tab told the count outside a refresh of its slot (leaving a call, or owed one) joins one
/// of the slots refreshed lately, whose next refresh comes within an interval, about when it
/// may hear again (see `presence`).
fn rejoin_if_told(told: bool, online: &mut watch::Receiver<u32>, state: &AppState) {
    if told {
        *online = state.presence.subscribe();
    }
}

/// Waits until the count a tab is owed may go out (see [`Feed`]).
async fn sleep_until_owed(feed: &Feed) {
    if let Some(at) = feed.owed_at() {
        tokio::time::sleep_until(at).await;
    }
}

/// Per-session limits, and the decoding and dispatch of one text frame.
struct SessionGuard {
    messages: TokenBucket,
    nexts: TokenBucket,
    chats: TokenBucket,
    /// When the client was last told it is rate limited, so a flood does not earn a flood of
    /// replies.
    last_rate_warning: Option<Instant>,
    /// Call was pressed before: later presses count against the Next limit.
    called: bool,
    /// Call and Next wait for the proof of work.
    proof: ProofGate,
    /// The browser's visitor key (see `VisitorKey`).
    key: VisitorKey,
}

impl SessionGuard {
    fn new(state: &AppState, proof_bits: u8, key: VisitorKey, now: Instant) -> Self {
        let c = &state.config;
        SessionGuard {
            key,
            messages: TokenBucket::new(c.message_burst, c.message_rate, now),
            nexts: TokenBucket::new(c.next_burst, c.next_rate, now),
            chats: TokenBucket::new(c.chat_burst, c.chat_rate, now),
            last_rate_warning: None,
            called: false,
            proof: ProofGate::new(proof_bits, c.pow_ttl, now),
        }
    }

    /// Takes one message from the session's allowance; the reply when it is used up (at
    /// most one a second, so a flood does not earn a flood of replies).
    fn over_rate(&mut self, state: &AppState, now: Instant) -> Option<Option<ServerMsg>> {
        if self.messages.try_take(now) {
            return None;
        }
        let recently = self
            .last_rate_warning
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1));
        if recently {
            state.metrics.error(ErrorCode::RateLimited);
            return Some(None);
        }
        self.last_rate_warning = Some(now);
        Some(Some(ServerMsg::error(
            ErrorCode::RateLimited,
            "You are sending messages too fast; some were dropped.",
        )))
    }

    /// A binary frame: counted like any message, then refused.
    fn refuse_binary(&mut self, state: &AppState) -> Option<ServerMsg> {
        if let Some(reply) = self.over_rate(state, Instant::now()) {
            return reply;
        }
        Some(ServerMsg::error(
            ErrorCode::BadMessage,
            "Binary frames are not part of the protocol; send JSON text.",
        ))
    }

    /// Handles one text frame; returns the reply for this client, if any. Everything a
    /// client controls is checked here, before the switchboard sees the message, at a cost
    /// linear in the frame: the rate, the frame's size for its kind, then the parse.
    async fn handle(
        &mut self,
        state: &AppState,
        id: SessionId,
        ip: IpAddr,
        text: &str,
    ) -> Option<ServerMsg> {
        let now = Instant::now();
        if let Some(reply) = self.over_rate(state, now) {
            return reply;
        }
        let bad = |e: serde_json::Error| {
            Some(ServerMsg::error(
                ErrorCode::BadMessage,
                format!("Not a valid message: {e}"),
            ))
        };
        let kind = match protocol::peek_kind(text) {
            Ok(kind) => kind,
            Err(e) => return bad(e),
        };
        let limit = kind.max_bytes(state.config.max_message_bytes);
        if text.len() > limit {
            return Some(ServerMsg::error(
                ErrorCode::BadMessage,
                format!(
                    "A {} message may be at most {limit} bytes.",
                    protocol::wire_name(&kind)
                ),
            ));
        }
        // A frame that names two types was measured as one of them: refused.
        let two_types = || {
            Some(ServerMsg::error(
                ErrorCode::BadMessage,
                "Not a valid message: it names more than one type.",
            ))
        };
        if matches!(kind, ClientKind::Offer | ClientKind::Answer) {
            // SDPs are passed on as the browser wrote them (see `RawSdp`).
            let sdp = match RawSdp::decode(text) {
                Ok(sdp) => sdp,
                Err(e) => return bad(e),
            };
            if sdp.kind != kind {
                return two_types();
            }
            let relayed = state.switchboard.relay_sdp(id, &sdp).await;
            return relayed.err().map(|e| e.to_msg());
        }
        let msg = match protocol::decode_client(text) {
            Ok(msg) => msg,
            Err(e) => return bad(e),
        };
        if ClientKind::from(&msg) != kind {
            return two_types();
        }
        // Only what starts matching waits for the proof: without a call, nothing else a
        // socket sends reaches anyone.
        if matches!(msg, ClientMsg::Call { .. } | ClientMsg::Next) {
            if let Some(refusal) = self.proof.refuse_unproven(now) {
                return Some(refusal);
            }
        }
        match msg {
            ClientMsg::Proof { nonce } => self.proof.answer(nonce, now),
            ClientMsg::Next if !self.nexts.try_take(now) => Some(ServerMsg::error(
                ErrorCode::NextTooFast,
                "Slow down: wait a moment before pressing Next again.",
            )),
            // Every Call after the first counts with Next, so End then Call is no way around
            // the Next limit.
            ClientMsg::Call { .. }
                if std::mem::replace(&mut self.called, true) && !self.nexts.try_take(now) =>
            {
                Some(ServerMsg::error(
                    ErrorCode::NextTooFast,
                    "Slow down: wait a moment before calling again.",
                ))
            }
            ClientMsg::Chat { .. } if !self.chats.try_take(now) => Some(ServerMsg::error(
                ErrorCode::ChatRefused,
                "You are chatting too fast; that line was not sent.",
            )),
            ClientMsg::Report {
                call_id,
                reason,
                screened,
            } => Some(
                state
                    .moderation
                    .report(id, ip, call_id, reason, screened)
                    .await,
            ),
            ClientMsg::Block { call_id } => {
                Some(state.moderation.block(id, &self.key, call_id).await)
            }
            ClientMsg::ClearBlocks => Some(state.moderation.clear_blocks(id, &self.key).await),
            msg => state
                .switchboard
                .handle(id, msg)
                .await
                .err()
                .map(|e| e.to_msg()),
        }
    }
}

/// The size of a data message's payload (control frames count as empty).
fn payload_len(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(bytes) => bytes.len(),
        _ => 0,
    }
}

/// Whether a read error is tungstenite's "message longer than the limit".
fn is_too_big(error: &axum::Error) -> bool {
    use std::error::Error as _;
    let source = error.source();
    matches!(
        source.and_then(|e| e.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}

/// What became of a write given `--write-timeout`.
fn outcome<E>(sent: Result<Result<(), E>, tokio::time::error::Elapsed>) -> Result<(), WriteError> {
    match sent {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(WriteError::Socket),
        Err(_) => Err(WriteError::TimedOut),
    }
}

/// Why a write failed.
#[derive(Debug)]
enum WriteError {
    Socket,
    TimedOut,
}

/// A socket whose every write is bounded by a timeout, so a browser that stops reading is
/// found out and closed instead of holding its task (and its place in matching) forever.
struct Writer {
    ws: WebSocket,
    timeout: Duration,
}

impl Writer {
    fn new(ws: WebSocket, timeout: Duration) -> Self {
        Writer { ws, timeout }
    }

    async fn send(&mut self, msg: &ServerMsg) -> Result<(), WriteError> {
        self.write(Message::Text(protocol::encode(msg).into()))
            .await
    }

    /// Sends `first` and whatever else `outbox` holds already (up to `MAX_BATCH` frames):
    /// under load a relayed offer often finds others queued behind it, and one write for them
    /// all costs less than one each. Also says how many bytes of the queue went (or were
    /// dropped with a broken socket).
    async fn send_queued(
        &mut self,
        first: Frame,
        outbox: &mut Outbox,
    ) -> (Result<(), WriteError>, usize) {
        let more = std::iter::from_fn(|| outbox.try_next());
        self.send_frames(std::iter::once(first).chain(more).take(MAX_BATCH))
            .await
    }

    /// Sends `messages` with one write to the socket where they fit in `WRITE_BUFFER`.
    async fn send_together(&mut self, messages: &[ServerMsg]) -> Result<(), WriteError> {
        self.send_frames(messages.iter().map(protocol::encode))
            .await
            .0
    }

    /// Sends `frames`, flushed once: below `WRITE_BUFFER`, `feed` only queues a frame, so
    /// the frames go out in as few system calls (and wake the browser's side as few times) as
    /// the buffer allows. Also says how many bytes they held.
    async fn send_frames(
        &mut self,
        frames: impl Iterator<Item = Frame>,
    ) -> (Result<(), WriteError>, usize) {
        let (ws, mut len) = (&mut self.ws, 0);
        let all = async {
            for frame in frames {
                len += frame.len();
                ws.feed(Message::Text(frame.into())).await?;
            }
            ws.flush().await
        };
        let sent = Box::pin(tokio::time::timeout(self.timeout, all)).await;
        (outcome(sent), len)
    }

    async fn ping(&mut self) -> Result<(), WriteError> {
        self.write(Message::Ping(Default::default())).await
    }

    async fn write(&mut self, message: Message) -> Result<(), WriteError> {
        // Boxed: a write in progress (its timer and tungstenite's send) is a few hundred bytes
        // that every idle session would otherwise carry (see `run_session`).
        outcome(Box::pin(tokio::time::timeout(self.timeout, self.ws.send(message))).await)
    }

    /// Sends a close frame; the socket may already be gone, and a failed goodbye changes
    /// nothing.
    async fn close(mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = Box::pin(tokio::time::timeout(
            Duration::from_secs(1),
            self.ws.send(Message::Close(Some(frame))),
        ))
        .await;
    }
}
