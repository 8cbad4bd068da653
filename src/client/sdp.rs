//! The one thing duet adds to the session descriptions it sends: the rate at which the
//! stranger's browser starts sending video.
//!
//! A new video stream starts at the browser's guess of the path's bandwidth (Chromium: 300
//! kbit/s) until its congestion control has measured better. Chromium reads a higher start
//! from the codec's `x-google-start-bitrate` parameter in the description it receives, so each
//! side puts it into what it sends, and the stranger's browser starts at [`START_KBPS`]. With
//! it the first remote frame came 4-18 ms sooner after the connection was up, in three sets of
//! runs (docs/BENCHMARKS.md). Other browsers ignore the parameter. Congestion control still
//! backs off within the first second on a path that cannot carry it, as it does from any start.

/// The video start rate asked of the stranger's browser, kbit/s: about what video-call
/// services start at (Jitsi: 800), and under what a 640×480 call settles at on a good path.
pub const START_KBPS: u32 = 1000;

/// The video codecs whose start rate is set (not their retransmission or error-correction
/// formats, which carry no rate of their own).
const CODECS: [&str; 5] = ["VP8", "VP9", "H264", "H265", "AV1"];

const PARAMETER: &str = "x-google-start-bitrate=";

/// `sdp` with the start rate `kbps` on every video codec of its video sections: appended to
/// the codec's `a=fmtp` line, or in a new one after its `a=rtpmap` where it has none. Every
/// other line stays as it is. Linear in the length of `sdp`.
pub fn with_start_bitrate(sdp: &str, kbps: u32) -> String {
    let mut out = String::with_capacity(sdp.len() + 256);
    // Sections begin at "m=" lines; the session part before the first one is kept as it is.
    let mut rest = sdp;
    while !rest.is_empty() {
        let end = next_section(rest);
        let (section, after) = rest.split_at(end);
        if section.starts_with("m=video ") {
            add_to_section(section, kbps, &mut out);
        } else {
            out.push_str(section);
        }
        rest = after;
    }
    out
}

/// Where the section that `sdp` starts with ends: at the next line starting with "m=".
fn next_section(sdp: &str) -> usize {
    let mut at = 0;
    for line in sdp.split_inclusive('\n') {
        if at > 0 && line.starts_with("m=") {
            return at;
        }
        at += line.len();
    }
    sdp.len()
}

fn add_to_section(section: &str, kbps: u32, out: &mut String) {
    // The payload types of the section's video codecs, and which of them have an fmtp line.
    let mut codecs: Vec<(&str, bool)> = Vec::new();
    for line in section.lines() {
        if let Some((pt, name)) = attribute(line, "a=rtpmap:") {
            let name = name.split('/').next().unwrap_or_default();
            if CODECS.iter().any(|c| c.eq_ignore_ascii_case(name)) {
                codecs.push((pt, false));
            }
        } else if let Some((pt, _)) = attribute(line, "a=fmtp:") {
            if let Some(codec) = codecs.iter_mut().find(|(p, _)| *p == pt) {
                codec.1 = true;
            }
        }
    }
    for line in section.split_inclusive('\n') {
        let text = line.trim_end_matches(['\r', '\n']);
        let ending = &line[text.len()..];
        let ending = if ending.is_empty() { "\r\n" } else { ending };
        if let Some((pt, parameters)) = attribute(text, "a=fmtp:") {
            let is_codec = codecs.iter().any(|(p, _)| *p == pt);
            if is_codec && !parameters.split(';').any(|p| p.starts_with(PARAMETER)) {
                out.push_str(&format!("{text};{PARAMETER}{kbps}{ending}"));
                continue;
            }
        }
        out.push_str(line);
        if let Some((pt, _)) = attribute(text, "a=rtpmap:") {
            if codecs.contains(&(pt, false)) {
                if !line.ends_with('\n') {
                    out.push_str(ending);
                }
                out.push_str(&format!("a=fmtp:{pt} {PARAMETER}{kbps}{ending}"));
            }
        }
    }
}

/// `a=<name>:<payload type> <value>` split into the payload type and the value.
fn attribute<'a>(line: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    line.strip_prefix(prefix)?.split_once(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of Chromium's offer: audio, then video with VP8 (no fmtp), its RTX, VP9 with
    /// an fmtp line, and error correction.
    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n\
        a=fmtp:111 minptime=10;useinbandfec=1\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 116\r\na=mid:1\r\na=rtpmap:96 VP8/90000\r\n\
        a=rtcp-fb:96 nack\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
        a=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=0\r\na=rtpmap:116 red/90000\r\n";

    #[test]
    fn every_video_codec_gets_the_start_rate_and_nothing_else_changes() {
        let sdp = with_start_bitrate(OFFER, 1000);
        let expected = OFFER
            .replace(
                "a=rtpmap:96 VP8/90000\r\n",
                "a=rtpmap:96 VP8/90000\r\na=fmtp:96 x-google-start-bitrate=1000\r\n",
            )
            .replace(
                "a=fmtp:98 profile-id=0\r\n",
                "a=fmtp:98 profile-id=0;x-google-start-bitrate=1000\r\n",
            );
        assert_eq!(sdp, expected);
    }

    #[test]
    fn twice_is_once() {
        let once = with_start_bitrate(OFFER, 1000);
        assert_eq!(with_start_bitrate(&once, 1000), once);
    }

    #[test]
    fn without_video_or_with_bare_newlines_it_keeps_its_shape() {
        let audio = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
        assert_eq!(with_start_bitrate(audio, 1000), audio);
        assert_eq!(with_start_bitrate("", 1000), "");
        let bare = "v=0\nm=video 9 RTP/AVP 96\na=rtpmap:96 VP8/90000";
        assert_eq!(
            with_start_bitrate(bare, 500),
            "v=0\nm=video 9 RTP/AVP 96\na=rtpmap:96 VP8/90000\r\na=fmtp:96 x-google-start-bitrate=500\r\n"
        );
    }
}
