//! Remembers the visitor's choices in `localStorage` for the next visit: the accepted rules,
//! the interests, text-only, hiding the IP address and the sound when a stranger is found.

use crate::app::state::Preferences;
use leptos::prelude::*;
use web_sys::Storage;

const TERMS: &str = "duet.termsAccepted";
const INTERESTS: &str = "duet.interests";
const TEXT_ONLY: &str = "duet.textOnly";
const HIDE_IP: &str = "duet.hideIp";
const FOUND_SOUND: &str = "duet.foundSound";

/// Loads the stored choices once the page has hydrated, then stores every change.
pub(crate) fn remember(prefs: Preferences) {
    // An effect, not the component body: the first paint must match the server's HTML, so the
    // stored values arrive just after hydration.
    Effect::new(move |first_run: Option<()>| {
        let accepted = prefs.terms_accepted.get();
        let interests = prefs.interests.get();
        let text_only = prefs.text_only.get();
        let hide_ip = prefs.hide_ip.get();
        let found_sound = prefs.found_sound.get();
        let Some(storage) = storage() else {
            return;
        };
        if first_run.is_none() {
            let read = |key| storage.get_item(key).ok().flatten();
            if read(TERMS).as_deref() == Some("yes") {
                prefs.terms_accepted.set(true);
            }
            if let Some(saved) = read(INTERESTS) {
                prefs.interests.set(saved);
            }
            if read(TEXT_ONLY).as_deref() == Some("yes") {
                prefs.text_only.set(true);
            }
            if read(HIDE_IP).as_deref() == Some("yes") {
                prefs.hide_ip.set(true);
            }
            // On unless switched off.
            if read(FOUND_SOUND).as_deref() == Some("no") {
                prefs.found_sound.set(false);
            }
        } else {
            let yes_no = |on: bool| if on { "yes" } else { "no" };
            // A full or disabled storage only means the choice is not remembered.
            let _ = storage.set_item(TERMS, yes_no(accepted));
            let _ = storage.set_item(INTERESTS, &interests);
            let _ = storage.set_item(TEXT_ONLY, yes_no(text_only));
            let _ = storage.set_item(HIDE_IP, yes_no(hide_ip));
            let _ = storage.set_item(FOUND_SOUND, yes_no(found_sound));
        }
    });
}

fn storage() -> Option<Storage> {
    window().local_storage().ok().flatten()
}
