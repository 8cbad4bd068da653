//! The browser's half of the JSON the server speaks, written without serde.
//!
//! The server reads and writes every message with serde (`crate::protocol`, `crate::api`).
//! The browser only ever writes [`ClientMsg`] and reads [`ServerMsg`] and the answers of a few
//! server functions, and serde's derived code for those types (internally tagged enums above
//! all), with `serde_json` and the server functions' client under it, was the largest part of
//! the browser's bundle that duet itself put there (docs/BENCHMARKS.md, "Bundle"). This
//! module writes the same JSON by hand, calls the server functions with a plain `fetch`, and
//! reads the answers with a small parser of its own: integers only (no
//! message carries another number), unknown fields ignored and a missing field refused, as
//! serde does. It is compiled in every build so that its tests check it, message by message,
//! against what serde writes and reads.

use crate::model::{AdminError, BanEntry, IceServer, ModerationOverview, ReportEntry};
use crate::protocol::{CallId, ClientMsg, IceCandidate, ServerMsg};
use std::fmt;

/// Why a server message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireError(&'static str);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The JSON text of a message to the server, field for field what serde writes.
pub fn encode(msg: &ClientMsg) -> String {
    let mut w = Writer(String::with_capacity(64));
    match msg {
        ClientMsg::Call {
            interests,
            text_only,
            language,
        } => {
            w.tag("call");
            w.key("interests");
            w.0.push('[');
            for (i, tag) in interests.iter().enumerate() {
                if i > 0 {
                    w.0.push(',');
                }
                w.string(tag);
            }
            w.0.push(']');
            w.bool("text_only", *text_only);
            if !language.is_empty() {
                w.str("language", language);
            }
        }
        ClientMsg::Next => w.tag("next"),
        ClientMsg::End => w.tag("end"),
        ClientMsg::Offer { call_id, sdp } => {
            w.call("offer", *call_id);
            w.str("sdp", sdp);
        }
        ClientMsg::Answer { call_id, sdp } => {
            w.call("answer", *call_id);
            w.str("sdp", sdp);
        }
        ClientMsg::Ice {
            call_id,
            role,
            candidate,
        } => {
            w.call("ice", *call_id);
            w.str("role", role.into());
            w.key("candidate");
            w.candidate(candidate);
        }
        ClientMsg::Connected { call_id, role } => {
            w.call("connected", *call_id);
            w.str("role", role.into());
        }
        ClientMsg::Report {
            call_id,
            reason,
            screened,
        } => {
            w.call("report", *call_id);
            w.str("reason", reason.into());
            if *screened {
                w.bool("screened", true);
            }
        }
        ClientMsg::Chat { call_id, text } => {
            w.call("chat", *call_id);
            w.str("text", text);
        }
        ClientMsg::Typing { call_id, typing } => {
            w.call("typing", *call_id);
            w.bool("typing", *typing);
        }
        ClientMsg::Media {
            call_id,
            mic,
            camera,
        } => {
            w.call("media", *call_id);
            w.bool("mic", *mic);
            w.bool("camera", *camera);
        }
        ClientMsg::Block { call_id } => w.call("block", *call_id),
        ClientMsg::ClearBlocks => w.tag("clear_blocks"),
        ClientMsg::Reconnect { call_id, in_place } => {
            w.call("reconnect", *call_id);
            w.bool("in_place", *in_place);
        }
        ClientMsg::Proof { nonce } => {
            w.tag("proof");
            w.key("nonce");
            w.0.push_str(&nonce.to_string());
        }
    }
    w.0.push('}');
    w.0
}

/// Reads the answer of the `ice_servers` server function (a JSON list of
/// [`IceServer`]s), which the browser fetches with a plain request for the same reason.
pub fn decode_ice_servers(text: &str) -> Result<Vec<IceServer>, WireError> {
    let Json::Array(items) = parse(text)? else {
        return Err(WireError("the ICE servers are a list"));
    };
    items
        .iter()
        .map(|item| {
            let Json::Object(fields) = item else {
                return Err(WireError("an ICE server is an object"));
            };
            let f = Fields(fields);
            Ok(IceServer {
                urls: f.strings("urls")?,
                username: f.optional_str("username")?,
                credential: f.optional_str("credential")?,
            })
        })
        .collect()
}

/// Fetches the ICE servers from the `ice_servers` server function.
#[cfg(feature = "hydrate")]
pub(crate) async fn fetch_ice_servers() -> Result<Vec<IceServer>, String> {
    match call_server_fn("/api/ice_servers", &[]).await? {
        (true, text) => decode_ice_servers(&text).map_err(|e| e.to_string()),
        (false, text) => Err(text),
    }
}

/// Calls a server function as its own client does (a POST of its arguments as a form), with
/// a plain `fetch`: that client would bring `serde_json` back into the bundle. Returns whether
/// the server answered with success, and the body.
#[cfg(feature = "hydrate")]
pub(crate) async fn call_server_fn(
    path: &str,
    args: &[(&str, &str)],
) -> Result<(bool, String), String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let describe = |e: wasm_bindgen::JsValue| format!("{e:?}");
    let form = web_sys::UrlSearchParams::new().map_err(describe)?;
    for (name, value) in args {
        form.append(name, value);
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    // The browser sets the form's Content-Type, as for the server function's own client.
    init.set_body(&form.into());
    let response: web_sys::Response =
        JsFuture::from(leptos::prelude::window().fetch_with_str_and_init(path, &init))
            .await
            .map_err(describe)?
            .unchecked_into();
    let text = JsFuture::from(response.text().map_err(describe)?)
        .await
        .map_err(describe)?
        .as_string()
        .unwrap_or_default();
    Ok((response.ok(), text))
}

/// Reads the answer of `admin_overview`.
pub fn decode_overview(text: &str) -> Result<ModerationOverview, WireError> {
    let Json::Object(fields) = parse(text)? else {
        return Err(WireError("the overview is an object"));
    };
    let f = Fields(&fields);
    let rows = |key| match f.get(key) {
        Some(Json::Array(rows)) => rows
            .iter()
            .map(|row| match row {
                Json::Object(fields) => Ok(Fields(fields)),
                _ => Err(WireError("a row is an object")),
            })
            .collect::<Result<Vec<_>, _>>(),
        _ => Err(WireError("a list of rows is missing")),
    };
    Ok(ModerationOverview {
        reports: rows("reports")?
            .iter()
            .map(|r| {
                Ok(ReportEntry {
                    id: r.signed("id")?,
                    at: r.str("at")?.to_owned(),
                    reporter: r.str("reporter")?.to_owned(),
                    reported: r.str("reported")?.to_owned(),
                    reason: r.str("reason")?.to_owned(),
                    screened: r.bool_or_false("screened")?,
                })
            })
            .collect::<Result<_, WireError>>()?,
        bans: rows("bans")?
            .iter()
            .map(|b| {
                Ok(BanEntry {
                    id: b.signed("id")?,
                    subject: b.str("subject")?.to_owned(),
                    since: b.str("since")?.to_owned(),
                    until: b.str("until")?.to_owned(),
                    reason: b.str("reason")?.to_owned(),
                })
            })
            .collect::<Result<_, WireError>>()?,
    })
}

/// Reads a `bool` answer (`lift_ban`).
pub fn decode_bool(text: &str) -> Result<bool, WireError> {
    match parse(text)? {
        Json::Bool(b) => Ok(b),
        _ => Err(WireError("expected true or false")),
    }
}

/// Reads the error a moderators' server function answered with, as serde writes an
/// [`AdminError`] (externally tagged); an answer that is not one becomes `Server` with the
/// answer's text.
pub fn decode_admin_error(text: &str) -> AdminError {
    let read = || -> Result<AdminError, WireError> {
        Ok(match parse(text)? {
            Json::String(name) if name == "Disabled" => AdminError::Disabled,
            Json::String(name) if name == "WrongToken" => AdminError::WrongToken,
            Json::Object(fields) => {
                let f = Fields(&fields);
                match fields.first().map(|(k, _)| k.as_str()) {
                    Some("TooManyGuesses") if fields.len() == 1 => match f.get("TooManyGuesses") {
                        Some(Json::Object(inner)) => AdminError::TooManyGuesses {
                            retry_after_secs: Fields(inner).int("retry_after_secs")?,
                        },
                        _ => return Err(WireError("not an admin error")),
                    },
                    Some("Server") if fields.len() == 1 => {
                        AdminError::Server(f.str("Server")?.to_owned())
                    }
                    _ => return Err(WireError("not an admin error")),
                }
            }
            _ => return Err(WireError("not an admin error")),
        })
    };
    read().unwrap_or_else(|_| AdminError::Server(text.to_owned()))
}

/// One whole JSON text.
fn parse(text: &str) -> Result<Json, WireError> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    let value = parser.value(0)?;
    parser.space();
    if parser.at != parser.bytes.len() {
        return Err(WireError("trailing characters after the value"));
    }
    Ok(value)
}

/// Reads one text frame from the server.
pub fn decode(text: &str) -> Result<ServerMsg, WireError> {
    let Json::Object(fields) = parse(text)? else {
        return Err(WireError("a message is an object"));
    };
    let m = Fields(&fields);
    Ok(match m.str("type")? {
        "online" => ServerMsg::Online {
            count: m.count("count")?,
        },
        "searching" => ServerMsg::Searching,
        "matched" => ServerMsg::Matched {
            call_id: m.call_id()?,
            shared_interests: m.strings_or_empty("shared_interests")?,
            partner_text_only: m.bool_or_false("partner_text_only")?,
            shared_language: m.str_or_empty("shared_language")?,
        },
        "offer" => ServerMsg::Offer {
            call_id: m.call_id()?,
            sdp: m.str("sdp")?.to_owned(),
        },
        "answer" => ServerMsg::Answer {
            call_id: m.call_id()?,
            sdp: m.str("sdp")?.to_owned(),
        },
        "ice" => ServerMsg::Ice {
            call_id: m.call_id()?,
            role: m.name("role")?,
            candidate: match m.get("candidate") {
                Some(Json::Object(fields)) => {
                    let c = Fields(fields);
                    IceCandidate {
                        candidate: c.str("candidate")?.to_owned(),
                        sdp_mid: c.optional_str("sdp_mid")?,
                        sdp_m_line_index: match c.get("sdp_m_line_index") {
                            None | Some(Json::Null) => None,
                            Some(Json::Int(n)) => Some(
                                u16::try_from(*n)
                                    .map_err(|_| WireError("m-line index too large"))?,
                            ),
                            Some(_) => return Err(WireError("sdp_m_line_index is a number")),
                        },
                    }
                }
                _ => return Err(WireError("candidate is an object")),
            },
        },
        "winner" => ServerMsg::Winner {
            call_id: m.call_id()?,
            role: m.name("role")?,
        },
        "call_ended" => ServerMsg::CallEnded {
            call_id: m.call_id()?,
            reason: m.name("reason")?,
        },
        "idle" => ServerMsg::Idle,
        "reported" => ServerMsg::Reported {
            call_id: m.call_id()?,
        },
        "visitor" => ServerMsg::Visitor {
            key: m.str("key")?.to_owned(),
            blocked: m.count("blocked")?,
            resume: m.str_or_empty("resume")?,
        },
        "resumed" => ServerMsg::Resumed {
            call_id: m.call_id()?,
            shared_interests: m.strings_or_empty("shared_interests")?,
            partner_text_only: m.bool_or_false("partner_text_only")?,
            shared_language: m.str_or_empty("shared_language")?,
        },
        "partner_away" => ServerMsg::PartnerAway {
            call_id: m.call_id()?,
        },
        "partner_back" => ServerMsg::PartnerBack {
            call_id: m.call_id()?,
            in_place: m.bool_or_false("in_place")?,
        },
        "blocked" => ServerMsg::Blocked {
            call_id: m.call_id()?,
            blocked: m.count("blocked")?,
        },
        "chat" => ServerMsg::Chat {
            call_id: m.call_id()?,
            text: m.str("text")?.to_owned(),
        },
        "typing" => ServerMsg::Typing {
            call_id: m.call_id()?,
            typing: m.bool("typing")?,
        },
        "media" => ServerMsg::Media {
            call_id: m.call_id()?,
            mic: m.bool("mic")?,
            camera: m.bool("camera")?,
        },
        "shutting_down" => ServerMsg::ShuttingDown,
        "error" => ServerMsg::Error {
            code: m.name("code")?,
            message: m.str("message")?.to_owned(),
        },
        "challenge" => ServerMsg::Challenge {
            seed: m.str("seed")?.to_owned(),
            bits: u8::try_from(m.int("bits")?).map_err(|_| WireError("bits too large"))?,
            expires_in: u32::try_from(m.int("expires_in")?)
                .map_err(|_| WireError("expires_in too large"))?,
        },
        "proof_accepted" => ServerMsg::ProofAccepted,
        _ => return Err(WireError("unknown message type")),
    })
}

/// Writes one JSON object, field by field (the caller closes it).
struct Writer(String);

impl Writer {
    /// Opens the object with its `type`.
    fn tag(&mut self, name: &str) {
        self.0.push_str("{\"type\":");
        self.string(name);
    }

    /// Opens the object with its `type` and `call_id`, as every message about a call starts.
    fn call(&mut self, name: &str, call_id: CallId) {
        self.tag(name);
        self.str("call_id", &call_id.to_string());
    }

    fn key(&mut self, key: &str) {
        self.0.push(',');
        self.string(key);
        self.0.push(':');
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        self.string(value);
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.0.push_str(if value { "true" } else { "false" });
    }

    fn candidate(&mut self, c: &IceCandidate) {
        self.0.push_str("{\"candidate\":");
        self.string(&c.candidate);
        self.key("sdp_mid");
        match &c.sdp_mid {
            Some(mid) => self.string(mid),
            None => self.0.push_str("null"),
        }
        self.key("sdp_m_line_index");
        match c.sdp_m_line_index {
            Some(index) => self.0.push_str(&index.to_string()),
            None => self.0.push_str("null"),
        }
        self.0.push('}');
    }

    /// A JSON string, escaped as serde_json escapes it.
    fn string(&mut self, s: &str) {
        self.0.push('"');
        for c in s.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                '\u{8}' => self.0.push_str("\\b"),
                '\u{c}' => self.0.push_str("\\f"),
                c if c < ' ' => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    self.0.push_str("\\u00");
                    self.0.push(char::from(HEX[usize::from(c as u8 >> 4)]));
                    self.0.push(char::from(HEX[usize::from(c as u8 & 0xf)]));
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
    }
}

/// A parsed JSON value, as far as server messages need one.
#[derive(Debug)]
enum Json {
    Null,
    Bool(bool),
    /// A whole number; the server sends no other kind.
    Int(i64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// How deep arrays and objects may nest (a server message nests two deep).
const MAX_DEPTH: usize = 16;

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.space();
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), WireError> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(WireError("malformed JSON"))
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, WireError> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(WireError("malformed JSON"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, WireError> {
        if depth > MAX_DEPTH {
            return Err(WireError("nested too deep"));
        }
        match self.peek() {
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.int().map(Json::Int),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                if self.peek() == Some(b']') {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return Err(WireError("malformed JSON")),
                    }
                }
            }
            Some(b'{') => {
                self.at += 1;
                let mut fields = Vec::new();
                if self.peek() == Some(b'}') {
                    self.at += 1;
                    return Ok(Json::Object(fields));
                }
                loop {
                    if self.peek() != Some(b'"') {
                        return Err(WireError("malformed JSON"));
                    }
                    let key = self.string()?;
                    self.expect(b':')?;
                    fields.push((key, self.value(depth + 1)?));
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Object(fields));
                        }
                        _ => return Err(WireError("malformed JSON")),
                    }
                }
            }
            _ => Err(WireError("malformed JSON")),
        }
    }

    /// A whole number. Fractions and exponents are refused: no server message has them.
    fn int(&mut self) -> Result<i64, WireError> {
        let start = self.at;
        if self.bytes.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        while let Some(b'0'..=b'9') = self.bytes.get(self.at) {
            self.at += 1;
        }
        if let Some(b'.' | b'e' | b'E') = self.bytes.get(self.at) {
            return Err(WireError("only whole numbers are expected"));
        }
        std::str::from_utf8(&self.bytes[start..self.at])
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or(WireError("malformed number"))
    }

    /// A string, at its opening quote.
    fn string(&mut self) -> Result<String, WireError> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&byte) = self.bytes.get(self.at) else {
                return Err(WireError("unterminated string"));
            };
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let Some(&escape) = self.bytes.get(self.at) else {
                        return Err(WireError("unterminated string"));
                    };
                    self.at += 1;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let first = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&first) {
                                // A surrogate pair: the low half must follow as `\uXXXX`.
                                if !self.bytes[self.at..].starts_with(b"\\u") {
                                    return Err(WireError("lone surrogate"));
                                }
                                self.at += 2;
                                let low = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return Err(WireError("lone surrogate"));
                                }
                                0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
                            } else {
                                first
                            };
                            char::from_u32(code).ok_or(WireError("lone surrogate"))?
                        }
                        _ => return Err(WireError("unknown escape")),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                byte if byte < 0x20 => return Err(WireError("control character in a string")),
                byte => out.push(byte),
            }
        }
        // The input is a `&str` and escapes were written as whole characters.
        String::from_utf8(out).map_err(|_| WireError("invalid UTF-8"))
    }

    fn hex4(&mut self) -> Result<u32, WireError> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or(WireError("malformed \\u escape"))?;
        self.at += 4;
        Ok(digits)
    }
}

/// The fields of one object, read by name as serde does: unknown ones ignored, the last of
/// two with the same name taken.
struct Fields<'a>(&'a [(String, Json)]);

impl Fields<'_> {
    fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn str(&self, key: &str) -> Result<&str, WireError> {
        match self.get(key) {
            Some(Json::String(s)) => Ok(s),
            Some(_) => Err(WireError("a field is not a string")),
            None => Err(WireError("a field is missing")),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, WireError> {
        match self.get(key) {
            Some(Json::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Json::String(s) => Ok(s.clone()),
                    _ => Err(WireError("a list holds something other than strings")),
                })
                .collect(),
            Some(_) => Err(WireError("a field is not a list")),
            None => Err(WireError("a field is missing")),
        }
    }

    fn optional_str(&self, key: &str) -> Result<Option<String>, WireError> {
        match self.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(WireError("a field is not a string")),
        }
    }

    fn int(&self, key: &str) -> Result<u64, WireError> {
        match self.get(key) {
            Some(Json::Int(n)) => u64::try_from(*n).map_err(|_| WireError("negative number")),
            Some(_) => Err(WireError("a field is not a number")),
            None => Err(WireError("a field is missing")),
        }
    }

    /// A list of strings that may be left out (empty then).
    fn strings_or_empty(&self, key: &str) -> Result<Vec<String>, WireError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(_) => self.strings(key),
        }
    }

    /// A string that may be left out (empty then).
    fn str_or_empty(&self, key: &str) -> Result<String, WireError> {
        match self.get(key) {
            None => Ok(String::new()),
            Some(_) => Ok(self.str(key)?.to_owned()),
        }
    }

    /// A count the server sends as a `u32`.
    fn count(&self, key: &str) -> Result<u32, WireError> {
        u32::try_from(self.int(key)?).map_err(|_| WireError("count too large"))
    }

    fn signed(&self, key: &str) -> Result<i64, WireError> {
        match self.get(key) {
            Some(Json::Int(n)) => Ok(*n),
            Some(_) => Err(WireError("a field is not a number")),
            None => Err(WireError("a field is missing")),
        }
    }

    fn bool(&self, key: &str) -> Result<bool, WireError> {
        match self.get(key) {
            Some(Json::Bool(b)) => Ok(*b),
            Some(_) => Err(WireError("a field is not a boolean")),
            None => Err(WireError("a field is missing")),
        }
    }

    fn bool_or_false(&self, key: &str) -> Result<bool, WireError> {
        match self.get(key) {
            None => Ok(false),
            Some(_) => self.bool(key),
        }
    }

    fn call_id(&self) -> Result<CallId, WireError> {
        self.str("call_id")?
            .parse()
            .map_err(|_| WireError("call_id is not a hex number"))
    }

    /// A unit variant by its wire name (a role, a reason, an error code).
    fn name<T: std::str::FromStr>(&self, key: &str) -> Result<T, WireError> {
        self.str(key)?
            .parse()
            .map_err(|_| WireError("unknown name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{self, EndReason, ErrorCode, ReportReason, Role};
    use strum::VariantArray;

    /// Text with everything a JSON string escapes, and characters outside ASCII and the BMP.
    const AWKWARD: &str =
        "quote \" back \\ slash / nl \n cr \r tab \t bs \u{8} ff \u{c} nul \u{0} \
                           us \u{1f} del \u{7f} é ü 漢字 😀 \u{2028}";

    fn client_messages() -> Vec<ClientMsg> {
        let call_id = CallId(0x0123_4567_89ab_cdef);
        let mut msgs = vec![
            ClientMsg::Call {
                language: String::new(),
                interests: vec![],
                text_only: false,
            },
            ClientMsg::Call {
                language: "es".into(),
                // The server cuts interests to 24 characters as it reads them.
                interests: vec!["chess".into(), "\"\\\n\u{1} é 😀".into()],
                text_only: true,
            },
            ClientMsg::Next,
            ClientMsg::End,
            ClientMsg::Offer {
                call_id,
                sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n".into(),
            },
            ClientMsg::Answer {
                call_id,
                sdp: AWKWARD.into(),
            },
            ClientMsg::Ice {
                call_id,
                role: Role::Peer2,
                candidate: IceCandidate {
                    candidate: "candidate:1 1 udp 2122260223 10.0.0.1 54321 typ host".into(),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                },
            },
            ClientMsg::Ice {
                call_id,
                role: Role::Peer1,
                candidate: IceCandidate {
                    candidate: String::new(),
                    sdp_mid: None,
                    sdp_m_line_index: None,
                },
            },
            ClientMsg::Chat {
                call_id,
                text: AWKWARD.into(),
            },
            ClientMsg::Typing {
                call_id,
                typing: true,
            },
            ClientMsg::Media {
                call_id,
                mic: false,
                camera: true,
            },
            ClientMsg::Block { call_id },
            ClientMsg::ClearBlocks,
            ClientMsg::Reconnect {
                call_id,
                in_place: false,
            },
            ClientMsg::Reconnect {
                call_id,
                in_place: true,
            },
            ClientMsg::Proof { nonce: 0 },
            ClientMsg::Proof { nonce: u64::MAX },
        ];
        for role in Role::VARIANTS {
            msgs.push(ClientMsg::Connected {
                call_id,
                role: *role,
            });
        }
        for reason in ReportReason::VARIANTS {
            for screened in [false, true] {
                msgs.push(ClientMsg::Report {
                    call_id,
                    reason: *reason,
                    screened,
                });
            }
        }
        msgs
    }

    fn server_messages() -> Vec<ServerMsg> {
        let call_id = CallId(u64::MAX);
        let mut msgs = vec![
            ServerMsg::Online { count: 0 },
            ServerMsg::Online { count: u32::MAX },
            ServerMsg::Searching,
            ServerMsg::Matched {
                shared_language: String::new(),
                call_id,
                shared_interests: vec![],
                partner_text_only: false,
            },
            ServerMsg::Matched {
                shared_language: "pt".into(),
                call_id: CallId(0),
                shared_interests: vec!["chess".into(), AWKWARD.into()],
                partner_text_only: true,
            },
            ServerMsg::Offer {
                call_id,
                sdp: "v=0\r\n".into(),
            },
            ServerMsg::Answer {
                call_id,
                sdp: AWKWARD.into(),
            },
            ServerMsg::Ice {
                call_id,
                role: Role::Peer1,
                candidate: IceCandidate {
                    candidate: "candidate:1 1 udp 1 ::1 9 typ host".into(),
                    sdp_mid: Some(AWKWARD.into()),
                    sdp_m_line_index: Some(u16::MAX),
                },
            },
            ServerMsg::Ice {
                call_id,
                role: Role::Peer2,
                candidate: IceCandidate {
                    candidate: String::new(),
                    sdp_mid: None,
                    sdp_m_line_index: None,
                },
            },
            ServerMsg::Idle,
            ServerMsg::Reported { call_id },
            ServerMsg::Visitor {
                key: "0123456789abcdef0123456789abcdef".into(),
                blocked: 0,
                resume: String::new(),
            },
            ServerMsg::Visitor {
                key: "0123456789abcdef0123456789abcdef".into(),
                blocked: 7,
                resume: "fedcba9876543210fedcba9876543210".into(),
            },
            ServerMsg::Resumed {
                call_id,
                shared_interests: vec!["chess".into()],
                partner_text_only: true,
                shared_language: "en".into(),
            },
            ServerMsg::Resumed {
                call_id,
                shared_interests: vec![],
                partner_text_only: false,
                shared_language: String::new(),
            },
            ServerMsg::PartnerAway { call_id },
            ServerMsg::PartnerBack {
                call_id,
                in_place: false,
            },
            ServerMsg::PartnerBack {
                call_id,
                in_place: true,
            },
            ServerMsg::Blocked {
                call_id,
                blocked: u32::MAX,
            },
            ServerMsg::Chat {
                call_id,
                text: AWKWARD.into(),
            },
            ServerMsg::Typing {
                call_id,
                typing: false,
            },
            ServerMsg::Media {
                call_id,
                mic: true,
                camera: false,
            },
            ServerMsg::ShuttingDown,
            ServerMsg::Challenge {
                seed: "00112233445566778899aabbccddeeff".into(),
                bits: 17,
                expires_in: 60,
            },
            ServerMsg::Challenge {
                seed: AWKWARD.into(),
                bits: u8::MAX,
                expires_in: u32::MAX,
            },
            ServerMsg::ProofAccepted,
        ];
        for role in Role::VARIANTS {
            msgs.push(ServerMsg::Winner {
                call_id,
                role: *role,
            });
        }
        for reason in EndReason::VARIANTS {
            msgs.push(ServerMsg::CallEnded {
                call_id,
                reason: *reason,
            });
        }
        for code in ErrorCode::VARIANTS {
            msgs.push(ServerMsg::error(*code, AWKWARD));
        }
        msgs
    }

    /// Byte for byte what serde writes, so the server reads it as it always did.
    #[test]
    fn type_tags_are_the_ones_serde_writes() {
        for msg in client_messages() {
            assert_eq!(msg.type_tag(), protocol::wire_name(&msg));
        }
        for msg in server_messages() {
            assert_eq!(msg.type_tag(), protocol::wire_name(&msg));
        }
    }

    #[test]
    fn client_messages_are_written_as_serde_writes_them() {
        for msg in client_messages() {
            let text = encode(&msg);
            assert_eq!(text, protocol::encode(&msg), "{msg:?}");
            assert_eq!(protocol::decode_client(&text).unwrap(), msg);
        }
    }

    #[test]
    fn server_messages_read_back_as_serde_wrote_them() {
        for msg in server_messages() {
            let text = protocol::encode(&msg);
            assert_eq!(decode(&text), Ok(msg.clone()), "{text}");
            // The same message pretty-printed, with spaces and newlines between tokens.
            let pretty = serde_json::to_string_pretty(&msg).unwrap();
            assert_eq!(decode(&pretty), Ok(msg), "{pretty}");
        }
    }

    #[test]
    fn reading_follows_serde_on_optional_and_unknown_fields() {
        // Defaults for the optional fields; unknown fields ignored; \u escapes, also for
        // characters outside the BMP, and `\/`.
        let text = r#"{"call_id":"00000000000000ff","type":"matched","future":[1,{"a":null}]}"#;
        assert_eq!(
            decode(text),
            Ok(ServerMsg::Matched {
                shared_language: String::new(),
                call_id: CallId(255),
                shared_interests: vec![],
                partner_text_only: false,
            })
        );
        let text = r#"{"type":"chat","call_id":"1","text":"\u00e9\ud83d\ude00\/"}"#;
        let expected: ServerMsg = serde_json::from_str(text).unwrap();
        assert_eq!(decode(text), Ok(expected));
    }

    #[test]
    fn ice_servers_read_back_as_serde_wrote_them() {
        let servers = vec![
            IceServer {
                urls: vec!["stun:stun.example.org:3478".into()],
                username: None,
                credential: None,
            },
            IceServer {
                urls: vec![
                    "turn:turn.example.org:3478?transport=udp".into(),
                    AWKWARD.into(),
                ],
                username: Some("1700000000:duet".into()),
                credential: Some("c2VjcmV0/+==".into()),
            },
        ];
        let text = serde_json::to_string(&servers).unwrap();
        assert_eq!(decode_ice_servers(&text), Ok(servers));
        assert_eq!(decode_ice_servers("[]"), Ok(vec![]));
        assert!(decode_ice_servers(r#"[{"username":"u"}]"#).is_err());
        assert!(decode_ice_servers(r#"{"urls":[]}"#).is_err());
    }

    #[test]
    fn moderators_answers_read_back_as_serde_wrote_them() {
        let overview = ModerationOverview {
            reports: vec![ReportEntry {
                id: 1,
                at: "2026-11-25 12:00:00".into(),
                reporter: "ab12".into(),
                reported: "cd34".into(),
                reason: AWKWARD.into(),
                screened: true,
            }],
            bans: vec![
                BanEntry {
                    id: i64::MAX,
                    subject: "cd34".into(),
                    since: "then".into(),
                    until: "later".into(),
                    reason: "harassment".into(),
                },
                BanEntry {
                    id: -1,
                    subject: String::new(),
                    since: String::new(),
                    until: String::new(),
                    reason: String::new(),
                },
            ],
        };
        let text = serde_json::to_string(&overview).unwrap();
        assert_eq!(decode_overview(&text), Ok(overview));
        let empty = ModerationOverview {
            reports: vec![],
            bans: vec![],
        };
        assert_eq!(
            decode_overview(&serde_json::to_string(&empty).unwrap()),
            Ok(empty)
        );
        assert_eq!(decode_bool("true"), Ok(true));
        assert_eq!(decode_bool("false"), Ok(false));
        for error in [
            AdminError::Disabled,
            AdminError::WrongToken,
            AdminError::TooManyGuesses {
                retry_after_secs: 42,
            },
            AdminError::Server(AWKWARD.into()),
        ] {
            let text = serde_json::to_string(&error).unwrap();
            assert_eq!(decode_admin_error(&text), error, "{text}");
        }
        assert_eq!(
            decode_admin_error("Bad Gateway"),
            AdminError::Server("Bad Gateway".into())
        );
    }

    #[test]
    fn what_serde_refuses_is_refused() {
        for text in [
            "",
            "[]",
            r#"{"type":"launch"}"#,
            r#"{"type":"online"}"#,
            r#"{"type":"online","count":-1}"#,
            r#"{"type":"online","count":1.5}"#,
            r#"{"type":"online","count":4294967296}"#,
            r#"{"type":"online","count":"3"}"#,
            r#"{"type":"chat","call_id":"xyz","text":""}"#,
            r#"{"type":"winner","call_id":"1","role":"peer3"}"#,
            r#"{"type":"error","code":"no_such_code","message":""}"#,
            r#"{"type":"chat","call_id":"1","text":"\ud83d"}"#,
            r#"{"type":"chat","call_id":"1","text":"a
b"}"#,
            r#"{"type":"challenge","seed":"ab","bits":256,"expires_in":60}"#,
            r#"{"type":"challenge","seed":"ab","bits":17}"#,
            r#"{"type":"idle"} x"#,
            r#"{"type":"idle""#,
        ] {
            assert!(decode(text).is_err(), "{text}");
            assert!(protocol::decode_server(text).is_err(), "serde takes {text}");
        }
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(decode(&deep).is_err());
    }
}
