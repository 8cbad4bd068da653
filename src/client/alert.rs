//! Tells a visitor who is in another tab that a stranger was found: a short chime made on the
//! spot with the Web Audio API (nothing to download), and the tab's title.

use leptos::prelude::*;
use std::time::Duration;
use wasm_bindgen::JsValue;
use web_sys::{AudioContext, OscillatorType};

/// The tab's title while a stranger found in the background waits to be seen.
const FOUND_TITLE: &str = "Stranger found · duet";
/// Two rising notes (Hz), each this long (s): noticeable, over before it annoys.
const NOTES: [f32; 2] = [660.0, 880.0];
const NOTE_SECONDS: f64 = 0.15;
const LOUDNESS: f32 = 0.2;

/// Puts "Stranger found" in the tab's title (`on`), or the page's own `title` back.
pub(crate) fn mark_title(on: bool, title: &str) {
    document().set_title(if on { FOUND_TITLE } else { title });
}

/// Plays the chime. A browser that refuses sound only means the title alone tells.
pub(crate) fn chime() {
    if let Err(e) = play() {
        leptos::logging::warn!("could not play the chime: {e:?}");
    }
}

fn play() -> Result<(), JsValue> {
    let audio = AudioContext::new()?;
    // A context made without a fresh click may start suspended; Call was clicked, so the
    // browser lets it run.
    let _ = audio.resume();
    let start = audio.current_time();
    for (n, pitch) in NOTES.into_iter().enumerate() {
        let at = start + NOTE_SECONDS * n as f64;
        let tone = audio.create_oscillator()?;
        tone.set_type(OscillatorType::Sine);
        tone.frequency().set_value(pitch);
        // Fade in and out, so the note does not click.
        let volume = audio.create_gain()?;
        let gain = volume.gain();
        gain.set_value_at_time(0.0, at)?;
        gain.linear_ramp_to_value_at_time(LOUDNESS, at + 0.02)?;
        gain.linear_ramp_to_value_at_time(0.0, at + NOTE_SECONDS)?;
        tone.connect_with_audio_node(&volume)?;
        volume.connect_with_audio_node(&audio.destination())?;
        tone.start_with_when(at)?;
        tone.stop_with_when(at + NOTE_SECONDS)?;
    }
    // Each chime has a context of its own, closed once it is over: none stays open.
    set_timeout(
        move || {
            let _ = audio.close();
        },
        Duration::from_secs(1),
    );
    Ok(())
}
