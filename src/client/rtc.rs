//! One WebRTC connection of a call: the design's peer1 (the offer this side makes) or peer2 (the
//! answer to the partner's offer). Creating, describing, adding candidates and closing; which
//! link to use when is decided by [`super::negotiation`].

use crate::model::IceServer;
use crate::protocol::{CallId, IceCandidate};
use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Event, MediaStream, MediaStreamTrack, RtcBundlePolicy, RtcConfiguration, RtcIceCandidateInit,
    RtcIceServer, RtcIceTransportPolicy, RtcOfferOptions, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcPeerConnectionState, RtcRtpSender, RtcRtpTransceiver,
    RtcRtpTransceiverDirection, RtcRtpTransceiverInit, RtcSdpType, RtcSessionDescriptionInit,
    RtcTrackEvent,
};

/// How long a connection that is done with stays open, silent, before it is closed.
const CLOSE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// What a call sends, each on its own transceiver.
const KINDS: [&str; 2] = ["audio", "video"];

/// Whether an ICE candidate line is a TURN relay's (it contains ` typ relay`). Compared byte
/// by byte: `str::contains` would bring the general substring searcher into the bundle for
/// this one test.
fn is_relay(candidate: &str) -> bool {
    const RELAY: &[u8] = b" typ relay";
    candidate
        .as_bytes()
        .windows(RELAY.len())
        .any(|w| w == RELAY)
}

/// What a connection's state became, as far as the call cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// `connected`: the first time, or again after a drop.
    Connected,
    /// `disconnected`: its checks stopped getting answers; it may come back, or fail.
    Disconnected,
    /// `failed` (or, relay-only, no relay candidate at all).
    Failed,
}

/// One peer connection and what belongs to it.
pub(crate) struct PeerLink {
    pub call_id: CallId,
    pub pc: RtcPeerConnection,
    /// The stranger's tracks as they arrive on this connection (the design's remoteStream, once
    /// this link wins).
    pub stream: MediaStream,
    /// Names this side's audio and video as one stream to the stranger's browser (the SDP's
    /// `msid`), so it plays them in sync. Empty: the camera's tracks go to the senders.
    sent: MediaStream,
    /// The connection's JS callbacks, alive exactly as long as the link.
    _handlers: [Closure<dyn FnMut(Event)>; 3],
}

impl PeerLink {
    /// A new connection. With `offers` (peer1) it gets an audio and a video transceiver that
    /// send and receive, so its offer can be made before the camera is open: the camera's
    /// tracks join later through [`PeerLink::send`], without a new offer. peer2 gets its
    /// transceivers from the partner's offer. `on_candidate` hears each local ICE
    /// candidate; `on_state` hears whether the connection came up, went down a while, or
    /// failed. With `relay_only`, the browser gathers only TURN relay candidates, and
    /// anything else is never passed on: the stranger cannot learn this visitor's address.
    pub fn new(
        call_id: CallId,
        ice_servers: &[IceServer],
        relay_only: bool,
        offers: bool,
        on_candidate: impl Fn(IceCandidate) + 'static,
        on_state: impl Fn(LinkState) + 'static,
    ) -> Result<Self, JsValue> {
        let pc =
            RtcPeerConnection::new_with_configuration(&configuration(ice_servers, relay_only))?;
        let stream = MediaStream::new()?;
        let on_state = std::rc::Rc::new(on_state);
        let gathering_failed = on_state.clone();
        let mut gathered = 0usize;

        let candidate = Closure::<dyn FnMut(Event)>::new(move |e: Event| {
            let found = e
                .dyn_ref::<RtcPeerConnectionIceEvent>()
                .and_then(|e| e.candidate())
                .filter(|c| !c.candidate().is_empty());
            let Some(found) = found else {
                // Gathering is over. Relay-only with no relay candidate (say, the TURN server
                // refused the credentials) can never connect, and the browser would not say so.
                if relay_only && gathered == 0 {
                    gathering_failed(LinkState::Failed);
                }
                return;
            };
            if relay_only && !is_relay(&found.candidate()) {
                return;
            }
            gathered += 1;
            on_candidate(IceCandidate {
                candidate: found.candidate(),
                sdp_mid: found.sdp_mid(),
                sdp_m_line_index: found.sdp_m_line_index(),
            });
        });
        // `Clone::clone`, not `stream.clone()`: MediaStream's own clone() makes a new stream.
        let track_sink = Clone::clone(&stream);
        let track = Closure::<dyn FnMut(Event)>::new(move |e: Event| {
            if let Some(e) = e.dyn_ref::<RtcTrackEvent>() {
                super::timeline::mark(|| Some(format!("remote {} track", e.track().kind())));
                track_sink.add_track(&e.track());
            }
        });
        let state = Closure::<dyn FnMut(Event)>::new(move |e: Event| {
            let state = e
                .target()
                .and_then(|t| t.dyn_into::<RtcPeerConnection>().ok())
                .map(|pc| pc.connection_state());
            match state {
                Some(RtcPeerConnectionState::Connected) => on_state(LinkState::Connected),
                Some(RtcPeerConnectionState::Disconnected) => on_state(LinkState::Disconnected),
                Some(RtcPeerConnectionState::Failed) => on_state(LinkState::Failed),
                _ => {}
            }
        });
        pc.set_onicecandidate(Some(candidate.as_ref().unchecked_ref()));
        pc.set_ontrack(Some(track.as_ref().unchecked_ref()));
        pc.set_onconnectionstatechange(Some(state.as_ref().unchecked_ref()));

        let sent = MediaStream::new()?;
        if offers {
            let init = RtcRtpTransceiverInit::new();
            init.set_direction(RtcRtpTransceiverDirection::Sendrecv);
            init.set_streams(&Array::of1(&sent));
            for kind in KINDS {
                pc.add_transceiver_with_str_and_init(kind, &init);
            }
        }
        Ok(PeerLink {
            call_id,
            pc,
            stream,
            sent,
            _handlers: [candidate, track, state],
        })
    }

    /// Sends `local`'s tracks (the camera, once open) on this connection's first audio and
    /// first video transceiver: peer1's own, or those the partner's offer made on peer2 (call
    /// it once that offer is set, before the answer). Replacing a sender's track needs no new
    /// offer. More transceivers than one of each kind, which only a hostile offer makes, are
    /// left receive-only.
    pub fn send(&self, local: Option<&MediaStream>) {
        for kind in KINDS {
            let Some(transceiver) = self.first_transceiver(kind) else {
                continue;
            };
            let sender = transceiver.sender();
            if transceiver.direction() != RtcRtpTransceiverDirection::Sendrecv {
                transceiver.set_direction(RtcRtpTransceiverDirection::Sendrecv);
                set_streams(&sender, &self.sent);
            }
            let track = local.and_then(|local| {
                let tracks = match kind {
                    "audio" => local.get_audio_tracks(),
                    _ => local.get_video_tracks(),
                };
                tracks.get(0).dyn_into::<MediaStreamTrack>().ok()
            });
            let Some(track) = track else { continue };
            if sender.track().map(|t| t.id()) != Some(track.id()) {
                // A promise that only fails on a closed connection, which no longer sends.
                let _ = sender.replace_track(Some(&track));
            }
        }
    }

    fn first_transceiver(&self, kind: &str) -> Option<RtcRtpTransceiver> {
        self.pc
            .get_transceivers()
            .iter()
            .filter_map(|t| t.dyn_into::<RtcRtpTransceiver>().ok())
            .find(|t| t.receiver().track().kind() == kind)
    }

    /// The design's ending for one connection: stop listening, take its tracks off (the
    /// camera stays on for the next call), close it.
    ///
    /// Taking the tracks off (`replaceTrack(null)`) stops the encoders at once without
    /// blocking. `close()` blocks the page's main thread while Chromium tears the transport
    /// down (15-45 ms on a busy machine), so it runs [`CLOSE_AFTER`] later: a race's loser is
    /// closed while the winner's first frames are due, and they must not wait for it.
    pub fn close(self) {
        self.pc.set_onicecandidate(None);
        self.pc.set_ontrack(None);
        self.pc.set_onconnectionstatechange(None);
        for sender in self.pc.get_senders().iter() {
            if let Ok(sender) = sender.dyn_into::<RtcRtpSender>() {
                // Fails only on a closed connection, which sends nothing anyway.
                let _ = sender.replace_track(None);
            }
        }
        let pc = self.pc;
        leptos::prelude::set_timeout(move || pc.close(), CLOSE_AFTER);
    }
}

/// Creates an offer, sets it as the local description and returns what the partner gets.
pub(crate) async fn make_offer(pc: &RtcPeerConnection) -> Result<String, JsValue> {
    let offer = JsFuture::from(pc.create_offer()).await?;
    set_local(pc, RtcSdpType::Offer, &sdp_of(&offer)?).await
}

/// Restarts ICE on a connection that is up or was: an offer with new ICE credentials (the
/// same tracks, the same connection), set as the local description; returns what the partner
/// gets.
pub(crate) async fn make_restart_offer(pc: &RtcPeerConnection) -> Result<String, JsValue> {
    let options = RtcOfferOptions::new();
    options.set_ice_restart(true);
    let offer = JsFuture::from(pc.create_offer_with_rtc_offer_options(&options)).await?;
    set_local(pc, RtcSdpType::Offer, &sdp_of(&offer)?).await
}

/// Creates an answer, sets it as the local description and returns what the partner gets.
pub(crate) async fn make_answer(pc: &RtcPeerConnection) -> Result<String, JsValue> {
    let answer = JsFuture::from(pc.create_answer()).await?;
    set_local(pc, RtcSdpType::Answer, &sdp_of(&answer)?).await
}

/// Sets the partner's offer or answer as the remote description.
pub(crate) async fn set_remote(
    pc: &RtcPeerConnection,
    kind: RtcSdpType,
    sdp: &str,
) -> Result<(), JsValue> {
    let description = RtcSessionDescriptionInit::new(kind);
    description.set_sdp(sdp);
    JsFuture::from(pc.set_remote_description(&description)).await?;
    Ok(())
}

/// Adds one of the partner's candidates.
pub(crate) async fn add_candidate(
    pc: &RtcPeerConnection,
    candidate: &IceCandidate,
) -> Result<(), JsValue> {
    let init = RtcIceCandidateInit::new(&candidate.candidate);
    init.set_sdp_mid(candidate.sdp_mid.as_deref());
    init.set_sdp_m_line_index(candidate.sdp_m_line_index);
    JsFuture::from(pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init))).await?;
    Ok(())
}

/// Sets `sdp` as the local description and returns what goes to the partner: the same, with
/// the video start rate the partner's browser is to send at (see [`super::sdp`]).
async fn set_local(pc: &RtcPeerConnection, kind: RtcSdpType, sdp: &str) -> Result<String, JsValue> {
    let description = RtcSessionDescriptionInit::new(kind);
    description.set_sdp(sdp);
    JsFuture::from(pc.set_local_description(&description)).await?;
    Ok(super::sdp::with_start_bitrate(sdp, super::sdp::START_KBPS))
}

/// `sender.setStreams(stream)`, which web-sys does not bind: the stream's id becomes the
/// sender's `msid` in the answer. A browser without it still sends; the stranger's browser then
/// plays audio and video without syncing them.
fn set_streams(sender: &RtcRtpSender, stream: &MediaStream) {
    let set = Reflect::get(sender, &JsValue::from_str("setStreams"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let Some(set) = set {
        let _ = set.call1(sender, stream);
    }
}

fn sdp_of(description: &JsValue) -> Result<String, JsValue> {
    Reflect::get(description, &JsValue::from_str("sdp"))?
        .as_string()
        .ok_or_else(|| JsValue::from_str("description without SDP"))
}

fn configuration(ice_servers: &[IceServer], relay_only: bool) -> RtcConfiguration {
    let servers = Array::new();
    for server in ice_servers {
        let entry = RtcIceServer::new();
        let urls = Array::new();
        for url in &server.urls {
            urls.push(&JsValue::from_str(url));
        }
        entry.set_urls(&urls);
        if let Some(username) = &server.username {
            entry.set_username(username);
        }
        if let Some(credential) = &server.credential {
            entry.set_credential(credential);
        }
        servers.push(&entry);
    }
    let config = RtcConfiguration::new();
    config.set_ice_servers(&servers);
    // Audio and video share one transport from the start (every browser duet supports
    // BUNDLE): half the candidates to gather, send and check than one transport per track
    // until the answer arrives.
    config.set_bundle_policy(RtcBundlePolicy::MaxBundle);
    if relay_only {
        config.set_ice_transport_policy(RtcIceTransportPolicy::Relay);
    }
    config
}
