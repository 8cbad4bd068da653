//! Remembers the visitor's choices in `localStorage` for the next visit: the accepted rules,
//! the interests, the language (the browser's own at first), text-only, hiding the IP address,
//! the sound when a stranger is found and screening the stranger's video; and the anonymous
//! visitor key the server issued, which the signaling socket sends when it connects (blocks
//! are made by it).

use crate::app::state::Preferences;
use crate::protocol::language_name;
use leptos::prelude::*;
use web_sys::Storage;

const TERMS: &str = "duet.termsAccepted";
const INTERESTS: &str = "duet.interests";
const TEXT_ONLY: &str = "duet.textOnly";
const HIDE_IP: &str = "duet.hideIp";
const LANGUAGE: &str = "duet.language";
const VISITOR_KEY: &str = "duet.visitor";
/// In `sessionStorage`: it belongs to this tab, and survives its reload.
const RESUME: &str = "duet.resume";
const FOUND_SOUND: &str = "duet.foundSound";
const SCREEN_VIDEO: &str = "duet.screenVideo";

/// Loads the stored choices once the page has hydrated, then stores every change. Screening
/// the stranger's video starts as the operator's `--screening` (`screen_by_default`) until the
/// visitor switches it.
pub(crate) fn remember(prefs: Preferences, screen_by_default: bool) {
    // An effect, not the component body: the first paint must match the server's HTML, so the
    // stored values arrive just after hydration.
    Effect::new(move |first_run: Option<()>| {
        let accepted = prefs.terms_accepted.get();
        let interests = prefs.interests.get();
        let text_only = prefs.text_only.get();
        let hide_ip = prefs.hide_ip.get();
        let language = prefs.language.get();
        let found_sound = prefs.found_sound.get();
        let screen_video = prefs.screen_video.get();
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
            match read(LANGUAGE) {
                Some(saved) if saved.is_empty() || language_name(&saved).is_some() => {
                    prefs.language.set(saved)
                }
                _ => prefs.language.set(browser_language()),
            }
            // On unless switched off.
            if read(FOUND_SOUND).as_deref() == Some("no") {
                prefs.found_sound.set(false);
            }
            match read(SCREEN_VIDEO).as_deref() {
                Some("yes") => prefs.screen_video.set(true),
                Some("no") => prefs.screen_video.set(false),
                _ => prefs.screen_video.set(screen_by_default),
            }
        } else {
            let yes_no = |on: bool| if on { "yes" } else { "no" };
            // A full or disabled storage only means the choice is not remembered.
            let _ = storage.set_item(TERMS, yes_no(accepted));
            let _ = storage.set_item(INTERESTS, &interests);
            let _ = storage.set_item(TEXT_ONLY, yes_no(text_only));
            let _ = storage.set_item(HIDE_IP, yes_no(hide_ip));
            let _ = storage.set_item(LANGUAGE, &language);
            let _ = storage.set_item(FOUND_SOUND, yes_no(found_sound));
            // Kept only when it differs from the operator's default, so a visitor who never
            // chose follows the site's setting, whatever it becomes.
            let _ = if screen_video == screen_by_default {
                storage.remove_item(SCREEN_VIDEO)
            } else {
                storage.set_item(SCREEN_VIDEO, yes_no(screen_video))
            };
        }
    });
}

/// The browser's own language, if duet offers it (`en-GB` is `en`); empty (any) otherwise.
fn browser_language() -> String {
    let tag = window().navigator().language().unwrap_or_default();
    // Language tags are ASCII (BCP 47): no Unicode case tables needed.
    let code = tag
        .split('-')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match language_name(&code) {
        Some(_) => code,
        None => String::new(),
    }
}

/// The visitor key this browser keeps, if it has one.
pub(crate) fn visitor_key() -> Option<String> {
    storage()?.get_item(VISITOR_KEY).ok().flatten()
}

/// Keeps the visitor key the server sent (a private window forgets it, and with it the
/// blocks made by it).
pub(crate) fn keep_visitor_key(key: &str) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(VISITOR_KEY, key);
    }
}

/// This tab's resume token, if the server gave it one.
pub(crate) fn resume_token() -> Option<String> {
    tab_storage()?.get_item(RESUME).ok().flatten()
}

/// Keeps this tab's latest resume token, for a reload or a new socket.
pub(crate) fn keep_resume_token(token: &str) {
    if let Some(storage) = tab_storage() {
        let _ = storage.set_item(RESUME, token);
    }
}

fn tab_storage() -> Option<Storage> {
    window().session_storage().ok().flatten()
}

fn storage() -> Option<Storage> {
    window().local_storage().ok().flatten()
}
