//! Security headers on every response, and the page's Content-Security-Policy.
//!
//! Pages get a CSP that allows only this site's own scripts plus the inline hydration script
//! Leptos marks with this response's nonce; everything else gets a strict default. Camera and
//! microphone are allowed for this site itself and nobody else. Behind TLS (`--behind-tls`),
//! every response also carries `Strict-Transport-Security`.

use axum::http::{header, HeaderName, HeaderValue};
use axum::Router;
use leptos::prelude::*;
use tower_http::set_header::SetResponseHeaderLayer;

/// The CSP for responses that are not pages (JSON, assets, errors): load nothing, frame nowhere.
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// HSTS for a site served over HTTPS: a year, the common choice, without `includeSubDomains`
/// or `preload`, which would bind other sites of the domain and cannot be taken back quickly.
const HSTS: &str = "max-age=31536000";

/// Adds the headers to every response of `router` that does not set them itself; HSTS too
/// when the site is `behind_tls` (over plain HTTP it would be ignored at best).
pub fn add_to<S: Clone + Send + Sync + 'static>(router: Router<S>, behind_tls: bool) -> Router<S> {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let router = if behind_tls {
        router.layer(set(header::STRICT_TRANSPORT_SECURITY, HSTS))
    } else {
        router
    };
    router
        .layer(set(header::CONTENT_SECURITY_POLICY, DEFAULT_CSP))
        .layer(set(
            HeaderName::from_static("permissions-policy"),
            "camera=(self), microphone=(self), display-capture=(), geolocation=(), payment=(), usb=()",
        ))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
}

/// Tells the browser, in this page response's headers, to fetch the wasm bundle, its
/// JavaScript and the stylesheet at once. The same preloads are in the page's head, but the
/// browser acts on headers as soon as they arrive, before it parses any HTML: on a slow phone
/// that starts the bundle's download, which bounds the time to a working Call, a few hundred
/// milliseconds earlier (docs/BENCHMARKS.md, "Navigation to Call"). `crossorigin` makes the
/// preload match the bundle's own `fetch` (CORS mode, same-origin credentials).
pub fn set_page_preloads(options: &LeptosOptions) {
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let pkg = format!("/{}/{}", options.site_pkg_dir, options.output_name);
    let links = format!(
        "<{pkg}.wasm>; rel=preload; as=fetch; type=\"application/wasm\"; crossorigin, \
         <{pkg}.js>; rel=modulepreload, <{pkg}.css>; rel=preload; as=style"
    );
    if let Ok(value) = HeaderValue::from_str(&links) {
        response.insert_header(header::LINK, value);
    }
}

/// Sets this page response's CSP, allowing the inline scripts that carry its nonce. Called
/// while the server renders the page shell. In development (`cargo leptos watch`), it also
/// allows the live-reload socket.
pub fn set_page_csp(options: &LeptosOptions) {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let reload = match options.env {
        leptos::config::Env::DEV => format!(
            " ws://{}:{port} ws://localhost:{port}",
            options.site_addr.ip(),
            port = options.reload_port
        ),
        leptos::config::Env::PROD => String::new(),
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; media-src 'self' blob: mediastream:; \
         connect-src 'self'{reload}; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}
