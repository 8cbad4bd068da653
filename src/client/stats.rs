//! Call quality from `RTCPeerConnection.getStats()`: round-trip time and packet loss.

use js_sys::Reflect;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::RtcPeerConnection;

/// A one-line summary, e.g. "RTT 12 ms · loss 0.0%", or `None` before there is data.
pub(crate) async fn quality(pc: &RtcPeerConnection) -> Option<String> {
    let report = JsFuture::from(pc.get_stats()).await.ok()?;
    let mut rtt_ms = None;
    let (mut lost, mut received) = (0.0, 0.0);
    for entry in js_sys::try_iter(&report).ok()??.flatten() {
        // Each entry is [id, stats].
        let stats = Reflect::get(&entry, &JsValue::from(1)).ok()?;
        let field = |name: &str| Reflect::get(&stats, &JsValue::from_str(name)).ok();
        let number = |name: &str| field(name).and_then(|v| v.as_f64());
        match field("type").and_then(|t| t.as_string()).as_deref() {
            Some("candidate-pair")
                if field("state").and_then(|s| s.as_string()).as_deref() == Some("succeeded") =>
            {
                if let Some(rtt) = number("currentRoundTripTime") {
                    rtt_ms = Some(rtt * 1000.0);
                }
            }
            Some("inbound-rtp") => {
                lost += number("packetsLost").unwrap_or(0.0).max(0.0);
                received += number("packetsReceived").unwrap_or(0.0);
            }
            _ => {}
        }
    }
    let rtt_ms = rtt_ms?;
    let loss = if lost + received > 0.0 {
        100.0 * lost / (lost + received)
    } else {
        0.0
    };
    // Rounded by hand and printed as integers: formatting an `f64` with a precision brings
    // Rust's float printing (~20 KB of wasm) into the bundle for this one line.
    let rtt_ms = (rtt_ms.max(0.0) + 0.5) as u64;
    let loss_tenths = (loss * 10.0 + 0.5) as u64;
    Some(format!(
        "RTT {rtt_ms} ms · loss {}.{}%",
        loss_tenths / 10,
        loss_tenths % 10
    ))
}
