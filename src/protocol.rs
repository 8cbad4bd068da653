//! The signaling protocol: every message that crosses the WebSocket at `/ws`.
//!
//! Shared by the server and the browser build. The server reads and writes these types with
//! serde; the browser writes `ClientMsg` and reads `ServerMsg` with `crate::wire`,
//! which is tested against serde message by message (serde's code for these enums weighed
//! more than the browser's whole call logic). Messages are JSON objects tagged by a `"type"`
//! field; unit variants travel by their snake_case names, derived once for serde and once for
//! strum (the wire module's tests hold the two together). `docs/protocol.md`
//! describes the same messages for people; keep the two in step.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Identifies one call: one match between two sessions.
///
/// The server draws it at random, so it cannot be guessed; it travels as a 16-digit hex string
/// because a JavaScript number cannot hold 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for CallId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(CallId)
    }
}

// Written and read as its hex string in place, without a `String` in between: every relayed
// offer, answer and candidate names its call (docs/BENCHMARKS.md, row 3).
impl Serialize for CallId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CallId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Hex;
        impl serde::de::Visitor<'_> for Hex {
            type Value = CallId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a call id: a hex string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<CallId, E> {
                s.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Hex)
    }
}

/// Which of a browser's two connections a message concerns (the design's peer1 and peer2).
///
/// Each side offers with its `peer1` and answers the partner's offer with its `peer2`, so the
/// partner's `peer1` talks to this side's `peer2` and the other way round.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// The connection this side offered.
    Peer1,
    /// The connection that answers the partner's offer.
    Peer2,
}

impl Role {
    /// The role of the same connection as the partner sees it.
    pub fn counterpart(self) -> Role {
        match self {
            Role::Peer1 => Role::Peer2,
            Role::Peer2 => Role::Peer1,
        }
    }
}

/// An ICE candidate as the browser's `RTCIceCandidate` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default)]
    pub sdp_m_line_index: Option<u16>,
}

/// A message from a browser to the server.
///
/// [`ClientKind`] names each variant without its fields (derived, so the two cannot drift):
/// the server reads a frame's kind first and holds the frame to that kind's size limit
/// ([`ClientKind::max_bytes`]) before parsing the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[serde(tag = "type", rename_all = "snake_case")]
#[strum_discriminants(
    name(ClientKind),
    derive(Hash, Serialize, Deserialize, strum::IntoStaticStr)
)]
#[strum_discriminants(serde(rename_all = "snake_case"), strum(serialize_all = "snake_case"))]
pub enum ClientMsg {
    /// Call was pressed: look for a stranger. Ignored while already searching or in a call.
    /// `interests` (see [`normalize_interests`]), `text_only` and `language` hold for Next
    /// too, until the next Call.
    Call {
        /// Tags this visitor would like to share; a stranger with a common tag is preferred.
        /// Read with a bound (see [`bounded_interests`]): a frame packed with tags costs no
        /// more than its length.
        #[serde(default, deserialize_with = "bounded_interests")]
        interests: Vec<String>,
        /// Meet strangers by text only (no camera); text-only visitors are preferably paired.
        #[serde(default)]
        text_only: bool,
        /// The language this visitor would like to speak (a code of [`LANGUAGES`], or empty for
        /// any): a stranger who speaks it is preferred, the way a shared interest is.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        language: String,
    },
    /// Leave the current stranger (if any) and look for another one.
    Next,
    /// Stop: leave the current stranger or the search and go idle.
    End,
    /// The SDP offer of this side's `peer1`, for the partner's `peer2`.
    Offer { call_id: CallId, sdp: String },
    /// The SDP answer of this side's `peer2`, for the partner's `peer1`.
    Answer { call_id: CallId, sdp: String },
    /// An ICE candidate gathered by this side's connection `role`.
    Ice {
        call_id: CallId,
        role: Role,
        candidate: IceCandidate,
    },
    /// This side's connection `role` reached `connected`. The first report of a call wins.
    Connected { call_id: CallId, role: Role },
    /// Report the stranger of the current call, or of one of the last few calls (see
    /// [`RECENT_CALLS`]), to the moderators.
    Report {
        call_id: CallId,
        reason: ReportReason,
        /// Made from the blur of the visitor's own video screening (README, "Video
        /// screening"): the classifier flagged the stranger's video. Only this flag; never a
        /// frame.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        screened: bool,
    },
    /// A chat line for the stranger (at most [`MAX_CHAT_CHARS`] characters).
    Chat { call_id: CallId, text: String },
    /// This visitor started (`true`) or stopped (`false`) typing a chat line.
    Typing { call_id: CallId, typing: bool },
    /// This visitor's microphone and camera are on or off (sent on match and on every change).
    Media {
        call_id: CallId,
        mic: bool,
        camera: bool,
    },
    /// "Don't match me with this stranger again": the stranger of the current call, or of one
    /// of the last few (see [`RECENT_CALLS`]). The call itself goes on until Next or End.
    Block { call_id: CallId },
    /// Forget every stranger this visitor blocked.
    ClearBlocks,
    /// This tab is back in its call, or its connection of the call could not be brought back in
    /// place: the partner is told `partner_back` with the same `in_place`. With `in_place`,
    /// the tab kept the call's winning connection (only its socket was lost): the connection
    /// stays, and the side that offered it restarts ICE on it if it is down. Without, both
    /// sides race their connections anew, in the same call (a reload, or a restart that did
    /// not bring the connection back).
    Reconnect {
        call_id: CallId,
        #[serde(default)]
        in_place: bool,
    },
    /// The answer to the socket's [`ServerMsg::Challenge`]: a nonce such that
    /// SHA-256(seed ":" nonce, in decimal) starts with `bits` zero bits (see `crate::proof`).
    Proof { nonce: u64 },
}

impl ClientMsg {
    /// Call with no interests, with video: what a plain press of Call sends.
    pub fn call() -> Self {
        ClientMsg::Call {
            interests: Vec::new(),
            text_only: false,
            language: String::new(),
        }
    }

    /// For a message the server passes on to the partner (offer, answer, candidate, chat,
    /// typing, media): the call it names and what the partner receives. Any other message is
    /// handed back.
    pub fn for_partner(self) -> Result<(CallId, ServerMsg), ClientMsg> {
        Ok(match self {
            ClientMsg::Offer { call_id, sdp } => (call_id, ServerMsg::Offer { call_id, sdp }),
            ClientMsg::Answer { call_id, sdp } => (call_id, ServerMsg::Answer { call_id, sdp }),
            ClientMsg::Ice {
                call_id,
                role,
                candidate,
            } => (
                call_id,
                // The sender's peer1 talks to the partner's peer2, and the other way round.
                ServerMsg::Ice {
                    call_id,
                    role: role.counterpart(),
                    candidate,
                },
            ),
            ClientMsg::Chat { call_id, text } => (call_id, ServerMsg::Chat { call_id, text }),
            ClientMsg::Typing { call_id, typing } => {
                (call_id, ServerMsg::Typing { call_id, typing })
            }
            ClientMsg::Media {
                call_id,
                mic,
                camera,
            } => (
                call_id,
                ServerMsg::Media {
                    call_id,
                    mic,
                    camera,
                },
            ),
            other => return Err(other),
        })
    }
}

impl ClientKind {
    /// The largest frame of this kind the server reads, in bytes; `sdp_limit` is the
    /// configured limit for the one kind that can be large (offers and answers carry SDP).
    /// The others are bounded by what they can hold, with room for JSON escapes (a character
    /// may take six bytes as `\uXXXX`).
    pub fn max_bytes(self, sdp_limit: usize) -> usize {
        match self {
            ClientKind::Offer | ClientKind::Answer => sdp_limit,
            // Five tags of 24 characters.
            ClientKind::Call => 2 * 1024,
            // A candidate line and its mid.
            ClientKind::Ice => 4 * 1024,
            // 500 characters, each perhaps escaped.
            ClientKind::Chat => MAX_CHAT_CHARS * 6 + 512,
            ClientKind::Next
            | ClientKind::End
            | ClientKind::Block
            | ClientKind::ClearBlocks
            | ClientKind::Reconnect
            | ClientKind::Connected
            | ClientKind::Report
            | ClientKind::Typing
            | ClientKind::Media
            | ClientKind::Proof => 512,
        }
        .min(sdp_limit)
    }
}

/// The kind a frame says it is, read without parsing the rest, so a frame is measured against
/// its kind's limit before it costs anything more. Frames as duet writes them start with their
/// `type`, which is read from the first bytes alone; any other frame is scanned once (its
/// other fields skipped, not kept). [`decode_client`] then checks the two agree.
pub fn peek_kind(text: &str) -> Result<ClientKind, serde_json::Error> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(rename = "type")]
        kind: ClientKind,
    }
    let leading = text
        .strip_prefix(r#"{"type":""#)
        .and_then(|rest| rest.get(..rest.find('"')?))
        .filter(|name| !name.contains('\\'));
    use serde::de::IntoDeserializer;
    let named = |name: &str| {
        ClientKind::deserialize(
            IntoDeserializer::<serde::de::value::Error>::into_deserializer(name),
        )
        .ok()
    };
    if let Some(kind) = leading.and_then(named) {
        return Ok(kind);
    }
    serde_json::from_str::<Envelope>(text).map(|e| e.kind)
}

/// An offer or an answer as it arrived, its SDP kept as the JSON string the browser wrote.
///
/// SDPs are most of what the server relays (kilobytes each), and it has no use for their
/// content: they are checked to be JSON strings and passed on as written, without unescaping
/// them into a `String` and escaping them again ([`RawSdp::frame_for_partner`]). Everything
/// else about the frame is read as usual, and unknown fields are dropped, so the partner gets
/// the same frame that encoding [`ServerMsg::Offer`] or [`ServerMsg::Answer`] would give, up
/// to how the SDP's characters are escaped.
#[cfg(feature = "ssr")]
#[derive(Debug, Deserialize)]
pub struct RawSdp<'a> {
    #[serde(rename = "type")]
    pub kind: ClientKind,
    pub call_id: CallId,
    #[serde(borrow)]
    sdp: &'a serde_json::value::RawValue,
}

#[cfg(feature = "ssr")]
impl<'a> RawSdp<'a> {
    /// Reads an `offer` or `answer` frame; anything else, or an SDP that is not a string, is
    /// refused.
    pub fn decode(text: &'a str) -> Result<Self, serde_json::Error> {
        use serde::de::Error;
        let raw: RawSdp = serde_json::from_str(text)?;
        if !matches!(raw.kind, ClientKind::Offer | ClientKind::Answer) {
            return Err(serde_json::Error::custom("expected an offer or an answer"));
        }
        if !raw.sdp.get().starts_with('"') {
            return Err(serde_json::Error::custom("sdp must be a string"));
        }
        Ok(raw)
    }

    /// The frame the partner receives.
    pub fn frame_for_partner(&self) -> String {
        use fmt::Write as _;
        let kind: &str = self.kind.into();
        let sdp = self.sdp.get();
        let mut frame = String::with_capacity(60 + kind.len() + sdp.len());
        frame.push_str(r#"{"type":""#);
        frame.push_str(kind);
        // A call id's hex digits need no escaping.
        let _ = write!(frame, r#"","call_id":"{}","sdp":"#, self.call_id);
        frame.push_str(sdp);
        frame.push('}');
        frame
    }

    /// The message the partner receives, decoded (for relaying through another node).
    pub fn to_server_msg(&self) -> Result<ServerMsg, serde_json::Error> {
        let sdp: String = serde_json::from_str(self.sdp.get())?;
        let call_id = self.call_id;
        Ok(match self.kind {
            ClientKind::Answer => ServerMsg::Answer { call_id, sdp },
            _ => ServerMsg::Offer { call_id, sdp },
        })
    }
}

/// How many of a visitor's last calls can still be reported or blocked after they ended, and
/// for how long (seconds): the page lists them as "Recent strangers".
pub const RECENT_CALLS: usize = 3;
pub const RECENT_CALL_SECS: u64 = 5 * 60;

/// The languages a visitor may prefer: code and name, as people who speak it write it. A short
/// list on purpose: each is a pool of strangers, and a rare one would mostly wait.
pub const LANGUAGES: [(&str, &str); 17] = [
    ("ar", "العربية"),
    ("de", "Deutsch"),
    ("en", "English"),
    ("es", "Español"),
    ("fr", "Français"),
    ("hi", "हिन्दी"),
    ("id", "Bahasa Indonesia"),
    ("it", "Italiano"),
    ("ja", "日本語"),
    ("ko", "한국어"),
    ("nl", "Nederlands"),
    ("pl", "Polski"),
    ("pt", "Português"),
    ("ru", "Русский"),
    ("tr", "Türkçe"),
    ("uk", "Українська"),
    ("zh", "中文"),
];

/// The name of language `code`, if it is one of [`LANGUAGES`].
pub fn language_name(code: &str) -> Option<&'static str> {
    LANGUAGES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// A Call's language as the server takes it: empty (any), or one of [`LANGUAGES`].
pub fn check_language(code: &str) -> Result<String, String> {
    match code.is_empty() || language_name(code).is_some() {
        true => Ok(code.to_string()),
        false => Err("That language is not one duet offers.".to_string()),
    }
}

/// The longest chat line, in characters.
pub const MAX_CHAT_CHARS: usize = 500;
/// How many interests a visitor may list.
pub const MAX_INTERESTS: usize = 5;
/// The longest interest, in characters.
pub const MAX_INTEREST_CHARS: usize = 24;

/// Reads a Call's interests, keeping at most one more tag than [`MAX_INTERESTS`] and at most
/// one more character per tag than [`MAX_INTEREST_CHARS`], skipping the rest of the list: enough
/// for [`check_interests`] to refuse an oversized list, at a cost linear in the frame and with
/// nothing kept that a client could grow.
fn bounded_interests<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    struct Bounded;
    impl<'de> serde::de::Visitor<'de> for Bounded {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of interests")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<String>, A::Error> {
            let mut tags = Vec::new();
            while let Some(tag) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                if tags.len() > MAX_INTERESTS {
                    continue;
                }
                tags.push(tag.chars().take(MAX_INTEREST_CHARS + 1).collect());
            }
            Ok(tags)
        }
    }
    de.deserialize_seq(Bounded)
}

/// The interests of a Call as the server takes them: at most [`MAX_INTERESTS`] listed (the
/// page sends them normalised, so more is not a person typing), then normalised.
pub fn check_interests(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.len() > MAX_INTERESTS {
        return Err(format!("At most {MAX_INTERESTS} interests, please."));
    }
    normalize_interests(raw)
}

/// Interests as duet compares them: trimmed, lower-case, without empties or repeats, at most
/// [`MAX_INTERESTS`] of at most [`MAX_INTEREST_CHARS`] characters each. Both the page and the
/// server apply it; the server never trusts the page to have done so.
pub fn normalize_interests<S: AsRef<str>>(raw: &[S]) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in raw {
        let tag = lowercase(tag.as_ref().trim());
        if tag.is_empty() || tags.contains(&tag) {
            continue;
        }
        if tag.chars().count() > MAX_INTEREST_CHARS {
            return Err(format!(
                "Interests may be at most {MAX_INTEREST_CHARS} characters long."
            ));
        }
        tags.push(tag);
    }
    if tags.len() > MAX_INTERESTS {
        return Err(format!("At most {MAX_INTERESTS} interests, please."));
    }
    Ok(tags)
}

/// Unicode's lower case, as [`str::to_lowercase`] makes it. The page asks the browser for it
/// (`String.prototype.toLowerCase`, the same locale-free Unicode mapping) rather than carrying
/// Rust's case tables in its bundle, some 6 KiB brotli; the server normalises again anyway.
#[cfg(feature = "hydrate")]
fn lowercase(s: &str) -> String {
    js_sys::JsString::from(s).to_lower_case().into()
}

#[cfg(not(feature = "hydrate"))]
fn lowercase(s: &str) -> String {
    s.to_lowercase()
}

/// Why a visitor reported a stranger.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ReportReason {
    Nudity,
    Harassment,
    Spam,
    Underage,
    Other,
}

impl ReportReason {
    /// Every reason, in the order the Report menu lists them.
    pub const ALL: [ReportReason; 5] = [
        ReportReason::Nudity,
        ReportReason::Harassment,
        ReportReason::Spam,
        ReportReason::Underage,
        ReportReason::Other,
    ];

    /// The wire name, also stored in the reports table.
    pub fn name(self) -> String {
        wire_name(&self)
    }

    /// What the Report menu shows.
    pub fn label(self) -> &'static str {
        match self {
            ReportReason::Nudity => "Nudity or sexual content",
            ReportReason::Harassment => "Harassment or hate",
            ReportReason::Spam => "Spam or advertising",
            ReportReason::Underage => "Looks under 18",
            ReportReason::Other => "Something else",
        }
    }
}

/// Why a call ended, as told to the side that did not end it.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EndReason {
    /// The stranger pressed Next.
    PartnerNext,
    /// The stranger pressed End.
    PartnerEnded,
    /// The stranger closed the tab or their connection died.
    PartnerLeft,
    /// No connection between the two came up in time; both sides are told.
    ConnectTimeout,
}

/// Why the server refused a message. The session carries on; nothing reached anyone else.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not a valid message (bad JSON, unknown type, wrong field, binary frame).
    BadMessage,
    /// A call message arrived while the session is not in a call.
    NotInCall,
    /// A call message named a call that is not the session's current one.
    StaleCall,
    /// The session sends messages faster than allowed; this one was dropped.
    RateLimited,
    /// Next was pressed faster than allowed; this press was ignored.
    NextTooFast,
    /// Too many open connections from this address; the socket closes.
    TooManyConnections,
    /// Too many new connections from this address in the last minute; the socket closes.
    ConnectingTooFast,
    /// This address is banned after reports from other visitors; the socket closes.
    Banned,
    /// The message was larger than the limit; the socket closes with code 1009.
    MessageTooBig,
    /// The server could not do what was asked (for example, store a report); try again later.
    Unavailable,
    /// A chat line longer than [`MAX_CHAT_CHARS`], or chatting faster than allowed.
    ChatRefused,
    /// The interests given with Call break the rules of [`normalize_interests`], or its language
    /// is not one of [`LANGUAGES`].
    BadInterests,
    /// Matching is paused: this server lost its connection to the store it shares with the
    /// other servers. Any call or search of the session has ended; Call works again once the
    /// server is back (it recovers by itself).
    MatchingUnavailable,
    /// The report was not recorded: the call has not shown anything yet (no media connected,
    /// no message from the stranger), this stranger was reported already in this call, or the
    /// visitor has reported too many strangers in the last hour.
    ReportRefused,
    /// The server has as many sockets open as it takes (`--max-connections`); the socket
    /// closes. Try again later, or another server of the site.
    ServerFull,
    /// Call (or Next) came before this socket proved its work (see [`ServerMsg::Challenge`]).
    ProofRequired,
    /// The proof does not solve this socket's challenge. The challenge still stands.
    BadProof,
    /// The challenge was not answered in time; a new one follows this error.
    ProofExpired,
}

impl ErrorCode {
    /// Whether the server closes the socket after sending this error.
    pub fn closes_socket(self) -> bool {
        matches!(
            self,
            ErrorCode::TooManyConnections
                | ErrorCode::ServerFull
                | ErrorCode::ConnectingTooFast
                | ErrorCode::Banned
                | ErrorCode::MessageTooBig
        )
    }
}

/// A message from the server to a browser.
///
/// For one session, messages arrive in the order the server produced them: `matched` comes
/// before any offer, answer or candidate of that call, and `call_ended` after its last one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(tag = "type", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ServerMsg {
    /// How many sessions are online. Sent on connect, then only while not in a call: at most
    /// once per presence interval (2 s by default), and only when it moved.
    Online { count: u32 },
    /// The session is waiting in the pool for a stranger.
    Searching,
    /// The session is paired with a stranger in a new call. Both sides now offer with `peer1`,
    /// unless either side is text-only: then the call is text chat only, with no WebRTC.
    Matched {
        call_id: CallId,
        /// The interests both listed (empty when none made the match).
        #[serde(default)]
        shared_interests: Vec<String>,
        /// The stranger meets by text only.
        #[serde(default)]
        partner_text_only: bool,
        /// The language both prefer (a code of [`LANGUAGES`]; empty when they do not share one).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        shared_language: String,
    },
    /// The partner's offer, for this side's `peer2`.
    Offer { call_id: CallId, sdp: String },
    /// The partner's answer, for this side's `peer1`.
    Answer { call_id: CallId, sdp: String },
    /// A candidate from the partner, for this side's connection `role`.
    Ice {
        call_id: CallId,
        role: Role,
        candidate: IceCandidate,
    },
    /// The connection `role` (as this side names it) won the race; close the other one.
    Winner { call_id: CallId, role: Role },
    /// The call is over for the reason given; the session is searching again.
    CallEnded { call_id: CallId, reason: EndReason },
    /// The session is idle: it ended its call or search.
    Idle,
    /// The report about the stranger of `call_id` was recorded.
    Reported { call_id: CallId },
    /// Sent on connect: the anonymous key this browser keeps and sends when it connects again
    /// (`/ws?visitor=<key>`), and how many strangers it has blocked. Sent again with
    /// `blocked: 0` once the blocks are cleared.
    Visitor {
        key: String,
        blocked: u32,
        /// This tab's resume token: sent back (`/ws?visitor=…&resume=…`) by a tab that lost
        /// its socket or was reloaded, it returns to its call within `--reload-grace`.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        resume: String,
    },
    /// The socket returned to the call it had (a reload or a lost connection within
    /// `--reload-grace`): as `matched`, for the same call; both sides negotiate anew.
    Resumed {
        call_id: CallId,
        #[serde(default)]
        shared_interests: Vec<String>,
        #[serde(default)]
        partner_text_only: bool,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        shared_language: String,
    },
    /// The stranger lost their connection (or reloaded): they may be back within
    /// `--reload-grace`; the call goes on meanwhile.
    PartnerAway { call_id: CallId },
    /// The stranger is back in the call (see [`ClientMsg::Reconnect`]). With `in_place`, they
    /// kept the call's winning connection: keep yours (its offerer restarts ICE on it if it is
    /// down). Without, close both connections and race them anew, as after `matched`.
    PartnerBack {
        call_id: CallId,
        #[serde(default)]
        in_place: bool,
    },
    /// The stranger of `call_id` is blocked; `blocked` strangers are blocked in all.
    Blocked { call_id: CallId, blocked: u32 },
    /// A chat line from the stranger. Plain text: never interpret it as HTML.
    Chat { call_id: CallId, text: String },
    /// The stranger started or stopped typing.
    Typing { call_id: CallId, typing: bool },
    /// The stranger's microphone and camera state.
    Media {
        call_id: CallId,
        mic: bool,
        camera: bool,
    },
    /// The server is shutting down; the socket closes next. Reconnect after a moment.
    ShuttingDown,
    /// The last message was refused. Nothing else happened.
    Error { code: ErrorCode, message: String },
    /// Before this socket may call, find a nonce such that SHA-256(`seed` ":" nonce, in
    /// decimal) starts with `bits` zero bits, and send it as [`ClientMsg::Proof`] within
    /// `expires_in` seconds. Sent first on connect (before `online`), unless the server asks
    /// for no proof; then again only after a challenge expired.
    Challenge {
        seed: String,
        bits: u8,
        expires_in: u32,
    },
    /// The proof was right: this socket may call from now on.
    ProofAccepted,
}

impl ServerMsg {
    /// A refusal with its code and a sentence for people.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMsg::Error {
            code,
            message: message.into(),
        }
    }

    /// The call a message about a call names.
    pub fn call_id(&self) -> Option<CallId> {
        match self {
            ServerMsg::Matched { call_id, .. }
            | ServerMsg::Offer { call_id, .. }
            | ServerMsg::Answer { call_id, .. }
            | ServerMsg::Ice { call_id, .. }
            | ServerMsg::Winner { call_id, .. }
            | ServerMsg::CallEnded { call_id, .. }
            | ServerMsg::Reported { call_id }
            | ServerMsg::Blocked { call_id, .. }
            | ServerMsg::Resumed { call_id, .. }
            | ServerMsg::PartnerAway { call_id }
            | ServerMsg::PartnerBack { call_id, .. }
            | ServerMsg::Chat { call_id, .. }
            | ServerMsg::Typing { call_id, .. }
            | ServerMsg::Media { call_id, .. } => Some(*call_id),
            ServerMsg::Online { .. }
            | ServerMsg::Visitor { .. }
            | ServerMsg::Searching
            | ServerMsg::Idle
            | ServerMsg::ShuttingDown
            | ServerMsg::Error { .. }
            | ServerMsg::Challenge { .. }
            | ServerMsg::ProofAccepted => None,
        }
    }
}

impl ClientMsg {
    /// The message's `type` tag, as serde writes it, without serde (for the browser's build,
    /// which carries no serde code for messages: see `crate::wire`).
    pub fn type_tag(&self) -> &'static str {
        ClientKind::from(self).into()
    }
}

impl ServerMsg {
    /// The message's `type` tag, as serde writes it, without serde (see
    /// [`ClientMsg::type_tag`]).
    pub fn type_tag(&self) -> &'static str {
        self.into()
    }
}

/// The name a value travels as: a unit variant's string, or a message's `type` tag, as serde
/// writes them, so no wire name is spelled twice (metrics labels and stored reasons use it).
pub fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(serde_json::Value::Object(fields)) => fields
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

/// Parses one text frame from a browser.
pub fn decode_client(text: &str) -> Result<ClientMsg, serde_json::Error> {
    serde_json::from_str(text)
}

/// Parses one text frame from the server.
pub fn decode_server(text: &str) -> Result<ServerMsg, serde_json::Error> {
    serde_json::from_str(text)
}

/// Serialises a message for the wire. These types always serialise, so this cannot fail.
pub fn encode<T: Serialize>(msg: &T) -> String {
    serde_json::to_string(msg).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_id_travels_as_hex_string() {
        let msg = ServerMsg::Matched {
            shared_language: String::new(),
            call_id: CallId(0xdead_beef_0000_0001),
            shared_interests: vec![],
            partner_text_only: false,
        };
        let text = encode(&msg);
        assert_eq!(
            text,
            r#"{"type":"matched","call_id":"deadbeef00000001","shared_interests":[],"partner_text_only":false}"#
        );
        assert_eq!(decode_server(&text).unwrap(), msg);
    }

    #[test]
    fn client_messages_round_trip() {
        let msgs = [
            ClientMsg::Call {
                language: String::new(),
                interests: vec!["chess".into()],
                text_only: true,
            },
            ClientMsg::Next,
            ClientMsg::End,
            ClientMsg::Offer {
                call_id: CallId(7),
                sdp: "v=0".into(),
            },
            ClientMsg::Ice {
                call_id: CallId(7),
                role: Role::Peer2,
                candidate: IceCandidate {
                    candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                },
            },
            ClientMsg::Connected {
                call_id: CallId(7),
                role: Role::Peer1,
            },
        ];
        for msg in msgs {
            assert_eq!(decode_client(&encode(&msg)).unwrap(), msg);
        }
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        for text in [
            "",
            "{",
            "null",
            r#"{"type":"launch"}"#,
            r#"{"type":"offer","call_id":12,"sdp":"x"}"#,
            r#"{"type":"offer","call_id":"zz","sdp":"x"}"#,
            r#"{"type":"ice","call_id":"01","role":"peer3","candidate":{"candidate":""}}"#,
        ] {
            assert!(decode_client(text).is_err(), "{text} should be refused");
        }
    }

    #[test]
    fn back_in_place_or_anew_travels_and_anew_is_the_default() {
        for in_place in [true, false] {
            let back = ClientMsg::Reconnect {
                call_id: CallId(7),
                in_place,
            };
            assert_eq!(decode_client(&encode(&back)).unwrap(), back);
            let told = ServerMsg::PartnerBack {
                call_id: CallId(7),
                in_place,
            };
            assert_eq!(decode_server(&encode(&told)).unwrap(), told);
        }
        // Without the field: the connections are raced anew, as before there was a choice.
        assert_eq!(
            decode_client(r#"{"type":"reconnect","call_id":"07"}"#).unwrap(),
            ClientMsg::Reconnect {
                call_id: CallId(7),
                in_place: false
            }
        );
        assert_eq!(
            decode_server(r#"{"type":"partner_back","call_id":"07"}"#).unwrap(),
            ServerMsg::PartnerBack {
                call_id: CallId(7),
                in_place: false
            }
        );
    }

    #[test]
    fn a_bare_call_means_no_interests_and_video() {
        assert_eq!(
            decode_client(r#"{"type":"call"}"#).unwrap(),
            ClientMsg::Call {
                language: String::new(),
                interests: vec![],
                text_only: false
            }
        );
    }

    #[test]
    fn interests_are_normalised_and_bounded() {
        assert_eq!(
            normalize_interests(&[" Chess ", "chess", "", "JAZZ"]).unwrap(),
            vec!["chess".to_owned(), "jazz".to_owned()]
        );
        assert!(normalize_interests(&["a", "b", "c", "d", "e", "f"]).is_err());
        assert!(normalize_interests(&["x".repeat(25)]).is_err());
    }

    #[test]
    fn wire_names_are_what_serde_writes() {
        assert_eq!(wire_name(&ErrorCode::StaleCall), "stale_call");
        assert_eq!(wire_name(&ReportReason::Underage), "underage");
        assert_eq!(wire_name(&ServerMsg::Searching), "searching");
        for reason in ReportReason::ALL {
            let json = encode(&reason);
            assert_eq!(json, format!("\"{}\"", reason.name()));
        }
    }

    #[test]
    fn a_frame_is_measured_by_its_kind_before_it_is_parsed() {
        assert_eq!(
            peek_kind(r#"{"sdp":"x","type":"offer"}"#).unwrap(),
            ClientKind::Offer
        );
        assert_eq!(ClientKind::Offer.max_bytes(65536), 65536);
        assert!(ClientKind::Call.max_bytes(65536) < 4096);
        assert!(
            ClientKind::Next.max_bytes(100) <= 100,
            "never above the configured limit"
        );
        assert!(peek_kind(r#"{"type":"teleport"}"#).is_err());
        // Every message's kind reads back as the kind derived from it.
        for msg in [ClientMsg::call(), ClientMsg::Next, ClientMsg::End] {
            assert_eq!(peek_kind(&encode(&msg)).unwrap(), ClientKind::from(&msg));
        }
    }

    #[test]
    fn a_call_packed_with_interests_keeps_only_enough_to_refuse_it() {
        let many: Vec<String> = (0..10_000).map(|i| format!("tag{i}")).collect();
        let frame = encode(&ClientMsg::Call {
            language: String::new(),
            interests: many,
            text_only: false,
        });
        let ClientMsg::Call { interests, .. } = decode_client(&frame).unwrap() else {
            panic!("a call")
        };
        assert_eq!(interests.len(), MAX_INTERESTS + 1);
        assert!(check_interests(&interests).is_err());
        let long = encode(&ClientMsg::Call {
            language: String::new(),
            interests: vec!["x".repeat(10_000)],
            text_only: false,
        });
        let ClientMsg::Call { interests, .. } = decode_client(&long).unwrap() else {
            panic!("a call")
        };
        assert_eq!(interests[0].chars().count(), MAX_INTEREST_CHARS + 1);
        assert!(check_interests(&interests).is_err());
        assert_eq!(
            check_interests(&[" Chess ".to_owned(), "jazz".to_owned()]).unwrap(),
            vec!["chess".to_owned(), "jazz".to_owned()]
        );
    }

    #[test]
    fn counterpart_swaps_roles() {
        assert_eq!(Role::Peer1.counterpart(), Role::Peer2);
        assert_eq!(Role::Peer2.counterpart(), Role::Peer1);
    }
}
