//! The two video panes. The browser build attaches streams to them through their `NodeRef`s.

use super::state::{text_call, Action, CallView, MediaView, Preferences, Presence, Veil};
use leptos::prelude::*;

/// The visitor's own camera, mirrored like a looking glass and muted so nobody hears
/// themselves, with the microphone and camera switches.
#[component]
pub fn LocalVideo(
    media: MediaView,
    prefs: Preferences,
    presence: Presence,
    on_action: Callback<Action>,
) -> impl IntoView {
    let muted = move || !media.mic_on.get();
    let camera_off = move || !media.camera_on.get();
    view! {
        <figure class="pane local">
            <video
                node_ref=media.local_video
                data-testid="local-video"
                class="mirrored"
                autoplay=true
                playsinline=true
                muted=true
                prop:muted=true
            ></video>
            <figcaption>"You"</figcaption>
            <div class="media-switches">
                <button
                    data-testid="mute"
                    aria-pressed=move || muted().to_string()
                    disabled=move || !presence.ready.get() || prefs.text_only.get()
                    on:click=move |_| on_action.run(Action::ToggleMic)
                >
                    {move || if muted() { "Unmute" } else { "Mute" }}
                </button>
                <button
                    data-testid="camera"
                    aria-pressed=move || camera_off().to_string()
                    disabled=move || !presence.ready.get() || prefs.text_only.get()
                    on:click=move |_| on_action.run(Action::ToggleCamera)
                >
                    {move || if camera_off() { "Camera on" } else { "Camera off" }}
                </button>
            </div>
        </figure>
    }
}

/// The stranger's video and sound, or a placeholder when the call is text-only, with what
/// the stranger has switched off and the call's quality; `children` go over the pane too (the
/// lobby puts the call's timer there). Typed children, not `Children`: that would bring
/// `AnyView` into the bundle (see `App`).
#[component]
pub fn RemoteVideo<V: IntoView + 'static>(
    call: CallView,
    media: MediaView,
    prefs: Preferences,
    on_action: Callback<Action>,
    children: TypedChildren<V>,
) -> impl IntoView {
    let children = children.into_inner();
    let on_off = |on: bool| if on { "on" } else { "off" };
    let in_call = move || call.state.get().in_call();
    let text_call = move || text_call(call, prefs);
    view! {
        <figure class="pane remote">
            <video
                node_ref=call.remote_video
                data-testid="remote-video"
                autoplay=true
                playsinline=true
                class:hidden=move || in_call() && text_call()
                class:veiled=move || call.veil.get().blurred()
                data-screening=move || call.veil.get().as_str()
            ></video>
            <Show when=move || call.veil.get().label().is_some()>
                <ScreeningVeil veil=call.veil on_action/>
            </Show>
            <Show when=move || in_call() && text_call()>
                <div class="placeholder" data-testid="remote-placeholder">
                    {move || {
                        if call.partner_text_only.get() {
                            "This stranger is in text-only mode: say hi in the chat."
                        } else {
                            "You are in text-only mode: say hi in the chat."
                        }
                    }}
                </div>
            </Show>
            <figcaption>"Stranger"</figcaption>
            <Show when=move || in_call() && !text_call()>
                <p
                    class="stranger-media"
                    data-testid="stranger-media"
                    data-mic=move || on_off(media.stranger_mic.get())
                    data-camera=move || on_off(media.stranger_camera.get())
                >
                    {move || (!media.stranger_mic.get()).then_some("Stranger is muted. ")}
                    {move || (!media.stranger_camera.get()).then_some("Stranger's camera is off.")}
                </p>
            </Show>
            <Show when=move || call.quality.get().is_some()>
                <p class="quality" data-testid="call-quality">{move || call.quality.get()}</p>
            </Show>
            {children()}
        </figure>
    }
}

/// What the blur over the stranger's video says, with "Show anyway" and "Report" where they
/// apply (see `Veil::label`).
#[component]
fn ScreeningVeil(veil: RwSignal<Veil>, on_action: Callback<Action>) -> impl IntoView {
    let label = move || veil.get().label();
    view! {
        <div class="veil" data-testid="screening-veil" role="status">
            <p>{move || label().map(|(text, _, _)| text)}</p>
            <Show when=move || label().is_some_and(|(_, show, _)| show)>
                <button
                    data-testid="show-anyway"
                    on:click=move |_| on_action.run(Action::ShowAnyway)
                >
                    "Show anyway"
                </button>
            </Show>
            <Show when=move || label().is_some_and(|(_, _, report)| report)>
                <button
                    data-testid="screening-report"
                    on:click=move |_| on_action.run(Action::ReportScreened)
                >
                    "Report"
                </button>
            </Show>
        </div>
    }
}
