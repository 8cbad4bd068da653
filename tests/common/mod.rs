//! Shared by the integration tests: a real duet server on a free port, and a WebSocket client
//! speaking the real protocol to it.
#![allow(dead_code)] // each test file uses its own part of this module

use clap::Parser;
use duet::protocol::{self, ClientMsg, ServerMsg};
use duet::server::config::Config;
use duet::server::AppState;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expected message may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A server running inside the test process on 127.0.0.1 and a free port.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
}

impl TestServer {
    /// Starts a server with these command-line flags (defaults for the rest).
    pub async fn start(flags: &[&str]) -> TestServer {
        let config = Config::parse_from(std::iter::once("duet").chain(flags.iter().copied()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::new(config);
        tokio::spawn(duet::server::serve(listener, state.clone()));
        TestServer { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Opens a signaling socket and reads the greeting (the online count).
    pub async fn connect(&self) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", self.addr))
            .await
            .expect("WebSocket connects");
        let mut client = Client { ws };
        match client.next_any().await {
            Some(ServerMsg::Online { .. }) => client,
            other => panic!("expected the online count first, got {other:?}"),
        }
    }
}

/// One browser tab, as far as the server can tell.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
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
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
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

    /// Waits for the server to close this socket.
    pub async fn until_closed(&mut self) {
        while self.next_any().await.is_some() {}
    }
}
