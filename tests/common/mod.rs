//! Shared by the integration tests: a real duet server on a free port, and a WebSocket client
//! speaking the real protocol to it.
#![allow(dead_code)] // each test file uses its own part of this module

use clap::Parser;
use duet::protocol::{self, CallId, ClientMsg, ServerMsg};
use duet::server::config::Config;
use duet::server::AppState;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{
    self, client::IntoClientRequest, protocol::CloseFrame, Message,
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expected message may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A server running inside the test process on 127.0.0.1 and a free port.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    /// The data directory (reports, bans), deleted when the last user drops it.
    pub data_dir: Arc<TempDir>,
}

impl TestServer {
    /// Starts a server with these command-line flags (defaults for the rest) and a fresh data
    /// directory.
    pub async fn start(flags: &[&str]) -> TestServer {
        Self::start_with_data(flags, Arc::new(TempDir::new().unwrap())).await
    }

    /// Starts a server on an existing data directory (to see what survives a restart).
    pub async fn start_with_data(flags: &[&str], data_dir: Arc<TempDir>) -> TestServer {
        let dir = data_dir.path().to_str().unwrap().to_owned();
        let args = ["duet", "--data-dir", &dir]
            .into_iter()
            .chain(flags.iter().copied());
        let config = Config::parse_from(args);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::new(config).expect("server state");
        tokio::spawn(duet::server::serve(listener, state.clone()));
        TestServer {
            addr,
            state,
            data_dir,
        }
    }

    /// Stops the server: every socket is told and closed.
    pub fn stop(&self) {
        self.state.shutdown.cancel();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Opens a signaling socket and reads the greeting (the online count).
    pub async fn connect(&self) -> Client {
        self.connect_with(&[]).await
    }

    /// Like [`TestServer::connect`], with extra request headers.
    pub async fn connect_with(&self, headers: &[(&str, &str)]) -> Client {
        let mut client = self.open_with(headers).await.expect("WebSocket connects");
        match client.next_any().await {
            Some(ServerMsg::Online { .. }) => client,
            other => panic!("expected the online count first, got {other:?}"),
        }
    }

    /// Opens a socket without reading anything; the upgrade's HTTP error if refused.
    pub async fn open_with(&self, headers: &[(&str, &str)]) -> Result<Client, tungstenite::Error> {
        let mut request = format!("ws://{}/ws", self.addr).into_client_request()?;
        for (name, value) in headers {
            request.headers_mut().insert(
                tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Client { ws, close: None })
    }
}

/// Pairs two idle clients: `a` calls and waits, `b` calls and both are matched.
pub async fn pair(a: &mut Client, b: &mut Client) -> CallId {
    a.send(&ClientMsg::call()).await;
    assert_eq!(a.recv().await, ServerMsg::Searching);
    b.send(&ClientMsg::call()).await;
    let ServerMsg::Matched { call_id, .. } = a.recv().await else {
        panic!("a should be matched")
    };
    assert!(matches!(b.recv().await, ServerMsg::Matched { call_id: c, .. } if c == call_id));
    call_id
}

/// One browser tab, as far as the server can tell.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The close frame the server sent, once it closed the socket.
    pub close: Option<CloseFrame>,
}

impl Client {
    pub async fn send(&mut self, msg: &ClientMsg) {
        self.send_text(&protocol::encode(msg)).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next protocol message, online counts included; `None` once the socket closed.
    pub async fn next_any(&mut self) -> Option<ServerMsg> {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a message within the patience limit");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Some(protocol::decode_server(&text).expect("server sends valid JSON"))
                }
                Some(Ok(Message::Close(frame))) => {
                    self.close = frame;
                    return None;
                }
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next message that is not an online count.
    pub async fn recv(&mut self) -> ServerMsg {
        loop {
            match self.next_any().await {
                Some(ServerMsg::Online { .. }) => continue,
                Some(msg) => return msg,
                None => panic!("socket closed while waiting for a message"),
            }
        }
    }

    /// Waits until the pushed online count reads `count`.
    pub async fn until_online(&mut self, count: u32) {
        loop {
            match self.next_any().await {
                Some(ServerMsg::Online { count: now }) if now == count => return,
                Some(_) => continue,
                None => panic!("socket closed while waiting for {count} online"),
            }
        }
    }

    /// Reads until the server closes this socket; returns every message before the close.
    pub async fn until_closed(&mut self) -> Vec<ServerMsg> {
        let mut seen = Vec::new();
        while let Some(msg) = self.next_any().await {
            seen.push(msg);
        }
        seen
    }

    /// The close code the server sent.
    pub fn close_code(&self) -> Option<u16> {
        self.close.as_ref().map(|frame| u16::from(frame.code))
    }
}
