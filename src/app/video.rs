//! The two video panes. The browser build attaches streams to them through their `NodeRef`s.

use leptos::html::Video;
use leptos::prelude::*;

/// The visitor's own camera, mirrored like a looking glass, and muted so nobody hears
/// themselves.
#[component]
pub fn LocalVideo(node_ref: NodeRef<Video>) -> impl IntoView {
    view! {
        <figure class="pane local">
            <video
                node_ref=node_ref
                data-testid="local-video"
                class="mirrored"
                autoplay=true
                playsinline=true
                muted=true
                prop:muted=true
            ></video>
            <figcaption>"You"</figcaption>
        </figure>
    }
}

/// The stranger's video and sound.
#[component]
pub fn RemoteVideo(node_ref: NodeRef<Video>) -> impl IntoView {
    view! {
        <figure class="pane remote">
            <video node_ref=node_ref data-testid="remote-video" autoplay=true playsinline=true></video>
            <figcaption>"Stranger"</figcaption>
        </figure>
    }
}
