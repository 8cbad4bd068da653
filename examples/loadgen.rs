//! duet's load generator: real sessions speaking the real protocol to a running server over
//! real sockets, on loopback only. Every run is bounded in count and time and prints its
//! progress. `scripts/bench.sh` (`make bench`) runs the whole set; `docs/BENCHMARKS.md` has
//! the results and the exact commands.
//!
//! ```text
//! loadgen match --url ws://127.0.0.1:3000/ws --waiting 10000
//! loadgen relay --url ws://127.0.0.1:3000/ws --pairs 200 --idle 10000 --size sdp --seconds 10
//! loadgen idle  --url ws://127.0.0.1:3000/ws --sessions 50000 --server-pid 1234
//! loadgen storm --url ws://127.0.0.1:3000/ws --clients 20000 --seconds 2
//! loadgen presence --url ws://127.0.0.1:3000/ws --sessions 10000 --seconds 60
//! loadgen proof --url ws://127.0.0.1:3000/ws --clients 200 --server-pid 1234
//! loadgen seed-sim --searchers 1000
//! ```
//!
//! Against a server that asks for a proof of work (`--pow-bits`), every session solves its
//! challenge before it does anything else, as the browser does; the `proof` scenario times it.

use clap::{Parser, Subcommand, ValueEnum};
use duet::proof;
use duet::protocol::{self, CallId, ClientMsg, IceCandidate, Role, ServerMsg};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::error::Error;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;
type Fallible<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// No single wait for the server may take longer than this; a run never hangs.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Parser)]
#[command(about = "Load generator for duet: real sessions over real sockets, loopback only")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Time to match: N sessions wait (each with an interest nobody else has), then pairs of
    /// probes call with a shared interest; measured from the second Call to both `matched`.
    Match {
        #[command(flatten)]
        target: Target,
        /// Sessions left searching while the probes run.
        #[arg(long)]
        waiting: usize,
        /// Probe pairs to time.
        #[arg(long, default_value_t = 300)]
        probes: usize,
    },
    /// Relay throughput and latency between matched pairs, with idle sockets open besides.
    Relay {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        run: RelayRun,
    },
    /// The most idle sessions held, and the server's resident memory per session.
    Idle {
        #[command(flatten)]
        target: Target,
        /// Sessions to open.
        #[arg(long)]
        sessions: usize,
        /// The server's process id, to read its resident memory.
        #[arg(long)]
        server_pid: u32,
    },
    /// A connection storm: N clients connect within the given seconds, evenly paced, each
    /// pressing Call as soon as its greeting arrives; time from opening the socket to the
    /// greeting and to `matched`, and the kernel's count of dropped connection attempts.
    Storm {
        #[command(flatten)]
        target: Target,
        /// Clients to connect.
        #[arg(long)]
        clients: usize,
        /// Seconds over which they connect.
        #[arg(long)]
        seconds: f64,
        /// The server's process id, to read the CPU time it spends per client.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Presence messages: N sessions online (a third in the lobby, a third searching, a third
    /// in calls) while visitors keep arriving and leaving; counts the `online` messages each
    /// group receives per client per minute.
    Presence {
        #[command(flatten)]
        target: Target,
        /// Sessions online.
        #[arg(long)]
        sessions: usize,
        /// Visitors arriving (each leaving within two seconds) per second, so the count moves.
        #[arg(long, default_value_t = 50.0)]
        churn: f64,
        /// How long to count.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// How long the crowd churns before counting starts: the crowd was set up in a burst,
        /// and each tab's first count comes about an interval after its greeting.
        #[arg(long, default_value_t = 5.0)]
        settle: f64,
    },
    /// The proof of work's cost: N clients connect one after another (a few at once), each
    /// solving its challenge, proving and calling; the time each took to solve, the server's
    /// CPU per client, and the time one check of a proof takes (the same function the server
    /// calls, timed here).
    Proof {
        #[command(flatten)]
        target: Target,
        /// Clients to connect.
        #[arg(long, default_value_t = 200)]
        clients: usize,
        /// The server's process id, to read the CPU time it spends per client.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// The seed design's matching, simulated: each searcher picks a random online user every
    /// 500 ms, and a pair forms only when two picked each other in the same round.
    SeedSim {
        /// Searchers, all online and searching from the start.
        #[arg(long)]
        searchers: usize,
        /// Simulated time after which the simulation stops.
        #[arg(long, default_value_t = 600.0)]
        max_seconds: f64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

/// How a relay run sends: see [`relay`].
#[derive(clap::Args)]
struct RelayRun {
    /// Matched pairs sending to each other.
    #[arg(long, default_value_t = 100)]
    pairs: usize,
    /// Extra idle sessions kept open during the run.
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// Message size: an ICE candidate (~200 B) or an SDP offer (~3 KB).
    #[arg(long, value_enum)]
    size: Size,
    /// Messages per second in total; without it, as fast as the server takes them.
    #[arg(long)]
    rate: Option<f64>,
    /// Messages a sender keeps in flight to its partner at most. Many (the default) let the
    /// server and this process take several per system call, which no browser does: a page
    /// sends its offer and waits for the answer. 1 sends the way pages do.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    window: u64,
    /// How long to send.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// The server's process id, to read the CPU time it spends per relayed message.
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(clap::Args, Clone)]
struct Target {
    /// The server's signaling socket.
    #[arg(long, default_value = "ws://127.0.0.1:3000/ws")]
    url: String,
    /// Loopback source addresses to spread sockets over (each has ~28,000 ports).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1")]
    sources: Vec<IpAddr>,
    /// Sockets being opened at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Another node of the same site (several nodes sharing a Redis): the second side of each
    /// pair, and every other background socket, connect there instead.
    #[arg(long)]
    peer_url: Option<String>,
}

impl Target {
    /// Where the second side of a pair connects.
    fn peer(&self) -> &str {
        self.peer_url.as_deref().unwrap_or(&self.url)
    }

    /// Where background socket `i` connects: alternating between the nodes, if there are two.
    fn url_for(&self, i: usize) -> &str {
        if i.is_multiple_of(2) {
            &self.url
        } else {
            self.peer()
        }
    }

    /// The source address of socket `i`: each in turn.
    fn source(&self, i: usize) -> IpAddr {
        self.sources[i % self.sources.len()]
    }

    /// Background socket `i`'s node and source address, owned, for a task of its own.
    fn client(&self, i: usize) -> (String, IpAddr) {
        (self.url_for(i).to_owned(), self.source(i))
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Size {
    Ice,
    Sdp,
}

#[tokio::main]
async fn main() -> Fallible<()> {
    match Cli::parse().scenario {
        Scenario::Match {
            target,
            waiting,
            probes,
        } => time_to_match(&target, waiting, probes).await,
        Scenario::Relay { target, run } => relay(&target, &run).await,
        Scenario::Storm {
            target,
            clients,
            seconds,
            server_pid,
        } => storm(&target, clients, seconds, server_pid).await,
        Scenario::Presence {
            target,
            sessions,
            churn,
            seconds,
            settle,
        } => presence(&target, sessions, churn, seconds, settle).await,
        Scenario::Idle {
            target,
            sessions,
            server_pid,
        } => idle(&target, sessions, server_pid).await,
        Scenario::Proof {
            target,
            clients,
            server_pid,
        } => proof_cost(&target, clients, server_pid).await,
        Scenario::SeedSim {
            searchers,
            max_seconds,
            seed,
        } => {
            seed_simulation(searchers, max_seconds, seed);
            Ok(())
        }
    }
}

/// Opens one session on `url` from `source` and reads its greeting; it has proved its work if
/// asked to, so it may call at once.
async fn open(url: &str, source: IpAddr) -> Fallible<Ws> {
    Ok(open_proven(url, source).await?.0)
}

/// A solved challenge: its bits and how long finding the nonce took.
struct Solved {
    bits: u8,
    took: Duration,
}

/// Like [`open`]; also says what proving took, when the server asked for it.
async fn open_proven(url: &str, source: IpAddr) -> Fallible<(Ws, Option<Solved>)> {
    let addr = server_addr(url)?;
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    port_at_connect(&socket)?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    // Small buffers, as the server uses: tens of thousands of these live in this process.
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
    match next_any(&mut ws).await? {
        ServerMsg::Online { .. } => Ok((ws, None)),
        ServerMsg::Challenge { seed, bits, .. } => {
            // Hashing is CPU work: off the runtime's threads, which serve the other sessions.
            let started = Instant::now();
            let nonce = tokio::task::spawn_blocking(move || proof::solve(&seed, bits)).await?;
            let took = started.elapsed();
            send(&mut ws, &ClientMsg::Proof { nonce }).await?;
            // The greeting came right after the challenge; then the acceptance.
            loop {
                match next_any(&mut ws).await? {
                    ServerMsg::Online { .. } | ServerMsg::Visitor { .. } => continue,
                    ServerMsg::ProofAccepted => return Ok((ws, Some(Solved { bits, took }))),
                    other => return Err(format!("proof not accepted: {other:?}").into()),
                }
            }
        }
        other => {
            Err(format!("expected a challenge or the online count first, got {other:?}").into())
        }
    }
}

/// Has the kernel choose a bound socket's port when it connects, not when it binds
/// (`IP_BIND_ADDRESS_NO_PORT`). A port chosen at bind must be free of every other use, so with
/// the tens of thousands of ports a run leaves in TIME_WAIT each bind searched for one, and
/// back-to-back storms stalled for seconds in the load generator. Chosen at connect, a port
/// need only make the connection unique, and one in TIME_WAIT may be taken again.
fn port_at_connect(socket: &TcpSocket) -> std::io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: the descriptor is the open socket `socket` owns, and the option's value is a
    // c_int that lives through the call, passed with its size.
    let done = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of_val(&on) as libc::socklen_t,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The next protocol message, whatever it is.
async fn next_any(ws: &mut Ws) -> Fallible<ServerMsg> {
    loop {
        let frame = tokio::time::timeout(PATIENCE, ws.next())
            .await?
            .ok_or("the server closed the socket")??;
        if let Message::Text(text) = frame {
            return Ok(protocol::decode_server(&text)?);
        }
    }
}

fn server_addr(url: &str) -> Fallible<SocketAddr> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or("the URL must start with ws://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let addr: SocketAddr = authority.parse()?;
    if !addr.ip().is_loopback() {
        return Err("the load generator only targets loopback addresses".into());
    }
    Ok(addr)
}

/// Opens `count` sessions concurrently, each handed to `then` (which may keep it).
async fn open_many<F, Fut>(target: &Target, count: usize, label: &str, then: F) -> Fallible<()>
where
    F: Fn(usize, Ws) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Fallible<()>> + Send,
{
    let gate = Arc::new(Semaphore::new(target.concurrency.max(1)));
    let then = Arc::new(then);
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let permit = gate.clone().acquire_owned().await?;
        let (target, then, done) = (target.clone(), then.clone(), done.clone());
        let source = target.source(i);
        let label = label.to_owned();
        tasks.spawn(async move {
            let ws = tokio::time::timeout(PATIENCE, open(target.url_for(i), source)).await??;
            then(i, ws).await?;
            drop(permit);
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n % 5000 == 0 {
                eprintln!(
                    "  {label}: {n} open ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
            }
            Fallible::Ok(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    eprintln!(
        "  {label}: {count} open in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Keeps a session alive in the background: reads (and so answers pings) until it closes.
fn hold(ws: Ws) {
    tokio::spawn(async move {
        let mut ws = ws;
        while let Some(Ok(_)) = ws.next().await {}
    });
}

async fn send(ws: &mut Ws, msg: &ClientMsg) -> Fallible<()> {
    ws.send(Message::text(protocol::encode(msg))).await?;
    Ok(())
}

/// The next protocol message that is not an online count or the greeting's visitor key.
async fn next_msg(ws: &mut Ws) -> Fallible<ServerMsg> {
    loop {
        match next_any(ws).await? {
            // Presence and the visitor key: not what any scenario waits for.
            ServerMsg::Online { .. } | ServerMsg::Visitor { .. } => continue,
            msg => return Ok(msg),
        }
    }
}

async fn until_matched(ws: &mut Ws) -> Fallible<CallId> {
    loop {
        if let ServerMsg::Matched { call_id, .. } = next_msg(ws).await? {
            return Ok(call_id);
        }
    }
}

async fn until_idle(ws: &mut Ws) -> Fallible<()> {
    while next_msg(ws).await? != ServerMsg::Idle {}
    Ok(())
}

fn call_with(tag: String) -> ClientMsg {
    ClientMsg::Call {
        language: String::new(),
        interests: vec![tag],
        text_only: false,
    }
}

async fn time_to_match(target: &Target, waiting: usize, probes: usize) -> Fallible<()> {
    eprintln!("match: {waiting} sessions searching, {probes} probe pairs");
    open_many(target, waiting, "searching", |i, mut ws| async move {
        // An interest nobody else has: this session stays in the search.
        send(&mut ws, &call_with(format!("w{i}"))).await?;
        if next_msg(&mut ws).await? != ServerMsg::Searching {
            return Err("a waiting session was matched; is --interest-wait long?".into());
        }
        hold(ws);
        Ok(())
    })
    .await?;

    let source = target.sources[0];
    let (mut a, mut b) = (
        open(&target.url, source).await?,
        open(target.peer(), source).await?,
    );
    let mut samples = Vec::with_capacity(probes);
    for k in 0..probes {
        let tag = format!("p{k}");
        send(&mut a, &call_with(tag.clone())).await?;
        if next_msg(&mut a).await? != ServerMsg::Searching {
            return Err("the first probe should wait".into());
        }
        let second_call = Instant::now();
        send(&mut b, &call_with(tag)).await?;
        let (for_a, for_b) = tokio::join!(until_matched(&mut a), until_matched(&mut b));
        samples.push(second_call.elapsed());
        if for_a? != for_b? {
            return Err("the probes were matched into different calls".into());
        }
        for ws in [&mut a, &mut b] {
            send(ws, &ClientMsg::End).await?;
            until_idle(ws).await?;
        }
    }
    let (p50, p99) = percentiles(&mut samples);
    println!(
        "RESULT match waiting={waiting} probes={probes} p50_ms={:.3} p99_ms={:.3}",
        ms(p50),
        ms(p99)
    );
    Ok(())
}

/// One side of a matched pair, split for a sender and a receiver task.
struct Side {
    call_id: CallId,
    sink: SplitSink<Ws, Message>,
    stream: SplitStream<Ws>,
}

async fn relay(target: &Target, run: &RelayRun) -> Fallible<()> {
    let &RelayRun {
        pairs,
        idle: idle_count,
        size,
        rate,
        window,
        seconds,
        server_pid,
    } = run;
    let size_name = match size {
        Size::Ice => "ice",
        Size::Sdp => "sdp",
    };
    eprintln!(
        "relay: {pairs} pairs, {idle_count} idle sockets, {size_name} messages, {} for {seconds} s",
        rate.map_or("as fast as possible".to_owned(), |r| format!(
            "{r:.0} msg/s"
        ))
    );
    open_many(target, idle_count, "idle", |_, ws| async move {
        hold(ws);
        Ok(())
    })
    .await?;

    let mut sides = Vec::with_capacity(pairs * 2);
    for i in 0..pairs {
        let source = target.source(i);
        let (mut a, mut b) = (
            open(&target.url, source).await?,
            open(target.peer(), source).await?,
        );
        send(&mut a, &ClientMsg::call()).await?;
        if next_msg(&mut a).await? != ServerMsg::Searching {
            return Err("the first of a pair should wait".into());
        }
        send(&mut b, &ClientMsg::call()).await?;
        let (call_a, call_b) = (until_matched(&mut a).await?, until_matched(&mut b).await?);
        for (ws, call_id) in [(a, call_a), (b, call_b)] {
            let (sink, stream) = ws.split();
            sides.push(Side {
                call_id,
                sink,
                stream,
            });
        }
    }
    eprintln!("  {pairs} pairs matched; sending");

    let clock = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let per_sender = rate.map(|r| r / (pairs * 2) as f64);
    // Closed loop: a sender keeps at most `window` messages in flight to its partner, so "as
    // fast as possible" measures what the server sustains, not how deep queues can grow.
    let flows: Vec<Arc<(AtomicU64, tokio::sync::Notify)>> = (0..sides.len())
        .map(|_| Arc::new((AtomicU64::new(0), tokio::sync::Notify::new())))
        .collect();
    // Each receiver's latencies, its own so receivers never wait for each other.
    let mut latencies = Vec::with_capacity(sides.len());
    let mut tasks = tokio::task::JoinSet::new();
    for (i, side) in sides.into_iter().enumerate() {
        let Side {
            call_id,
            mut sink,
            mut stream,
        } = side;
        // Sides come in pairs (0,1), (2,3), …: side i receives what side i^1 sends.
        let (from_partner, own) = (flows[i ^ 1].clone(), flows[i].clone());
        let mine = Arc::new(Mutex::new(Vec::<Duration>::new()));
        latencies.push(mine.clone());
        let received = received.clone();
        // The load generator's own work per message is kept small (no timer per read, no
        // full parse, no encoding per send): on two shared cores it is the server's too.
        tasks.spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                if let Some(sent) = stamp_in(&text) {
                    received.fetch_add(1, Ordering::Relaxed);
                    let latency = clock.elapsed().saturating_sub(sent);
                    mine.lock().unwrap_or_else(|p| p.into_inner()).push(latency);
                    from_partner.0.fetch_add(1, Ordering::Release);
                    from_partner.1.notify_one();
                }
            }
            Fallible::Ok(())
        });
        let stop_s = stop.clone();
        tasks.spawn(async move {
            let mut tick = per_sender.map(|r| {
                let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / r.max(0.001)));
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            let (template, at) = relay_template(size, call_id);
            let mut sent = 0u64;
            while !stop_s.load(Ordering::Relaxed) {
                if let Some(t) = tick.as_mut() {
                    t.tick().await;
                }
                while sent - own.0.load(Ordering::Acquire) >= window {
                    // Bounded, so the run still ends if the partner stops reading.
                    let _ =
                        tokio::time::timeout(Duration::from_millis(100), own.1.notified()).await;
                    if stop_s.load(Ordering::Relaxed) {
                        return Fallible::Ok(());
                    }
                }
                let mut text = template.clone();
                text.replace_range(at..at + STAMP, &stamp(clock.elapsed()));
                sink.send(Message::text(text)).await?;
                sent += 1;
            }
            Fallible::Ok(())
        });
    }
    // Let the pipes fill, then count a clean window.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start_count = received.load(Ordering::Relaxed);
    let cpu_before = server_pid.map(cpu_seconds).transpose()?;
    let own_cpu_before = cpu_seconds(std::process::id())?;
    let counted_from = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let delivered = received.load(Ordering::Relaxed) - start_count;
    let elapsed = counted_from.elapsed().as_secs_f64();
    // The load generator's CPU per message, sent and received: the share of the two cores it
    // takes from the server it measures.
    let own_cpu_us =
        (cpu_seconds(std::process::id())? - own_cpu_before) * 1e6 / delivered.max(1) as f64;
    // Server CPU per delivered message: what one relayed message costs the server in all
    // (reading, checking, forwarding and writing it), not its share of a busy core.
    let cpu_us = match (server_pid, cpu_before) {
        (Some(pid), Some(before)) => format!(
            "{:.1}",
            (cpu_seconds(pid)? - before) * 1e6 / delivered.max(1) as f64
        ),
        _ => "none".to_owned(),
    };
    stop.store(true, Ordering::Relaxed);
    // Receivers wait for messages that no longer come, and a sender may be stopped mid-send.
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let mut samples: Vec<Duration> = latencies
        .iter()
        .flat_map(|mine| std::mem::take(&mut *mine.lock().unwrap_or_else(|p| p.into_inner())))
        .collect();
    let (p50, p99) = percentiles(&mut samples);
    println!(
        "RESULT relay size={size_name} pairs={pairs} idle={idle_count} window={window} target_rate={} msgs_per_s={:.0} p50_ms={:.3} p99_ms={:.3} server_cpu_us_per_msg={cpu_us} loadgen_cpu_us_per_msg={own_cpu_us:.1}",
        rate.map_or("max".to_owned(), |r| format!("{r:.0}")),
        delivered as f64 / elapsed,
        ms(p50),
        ms(p99)
    );
    Ok(())
}

/// How many digits a relayed message's send time takes.
const STAMP: usize = 20;

/// A relayed message's send time, in microseconds since the run's clock started.
fn stamp(at: Duration) -> String {
    format!("{:0STAMP$}", at.as_micros())
}

/// A relayed message of the chosen size, encoded, and where in it its send time goes (the
/// first [`STAMP`] characters of its SDP or candidate).
fn relay_template(size: Size, call_id: CallId) -> (String, usize) {
    let stamp = stamp(Duration::ZERO);
    let msg = match size {
        Size::Ice => ClientMsg::Ice {
            call_id,
            role: Role::Peer1,
            candidate: IceCandidate {
                candidate: format!(
                    "{stamp} candidate:842163049 1 udp 1677729535 198.51.100.7 61234 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag aBcD network-cost 999"
                ),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
            },
        },
        Size::Sdp => ClientMsg::Offer {
            call_id,
            sdp: format!("{stamp}{}", "a=x-padding-to-a-realistic-sdp-size\r\n".repeat(80)),
        },
    };
    let text = protocol::encode(&msg);
    let at = stamp_at(&text).expect("the stamp is in the message");
    (text, at)
}

/// Where the send time starts in a relayed message, as the client sent it or as the server
/// forwards it: the start of the SDP or of the candidate line.
fn stamp_at(text: &str) -> Option<usize> {
    ["\"sdp\":\"", "\"candidate\":\""]
        .iter()
        .find_map(|key| text.find(key).map(|i| i + key.len()))
}

/// The send time a relayed message carries.
fn stamp_in(text: &str) -> Option<Duration> {
    let at = stamp_at(text)?;
    text.get(at..at + STAMP)?
        .parse::<u64>()
        .ok()
        .map(Duration::from_micros)
}

async fn idle(target: &Target, sessions: usize, server_pid: u32) -> Fallible<()> {
    eprintln!("idle: opening {sessions} sessions");
    let before = resident_kib(server_pid)?;
    open_many(target, sessions, "idle", |_, ws| async move {
        hold(ws);
        Ok(())
    })
    .await?;
    // The server registers each session before its greeting, so all are counted by now.
    let after = resident_kib(server_pid)?;
    println!(
        "RESULT idle sessions={sessions} rss_before_mib={:.1} rss_after_mib={:.1} per_session_kib={:.2}",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        after.saturating_sub(before) as f64 / sessions.max(1) as f64
    );
    Ok(())
}

async fn proof_cost(target: &Target, clients: usize, server_pid: Option<u32>) -> Fallible<()> {
    eprintln!("proof: {clients} clients each solve a challenge, prove and call");
    let cpu_before = server_pid.map(cpu_seconds).transpose()?;
    let gate = Arc::new(Semaphore::new(target.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        let permit = gate.clone().acquire_owned().await?;
        let (url, source) = target.client(i);
        tasks.spawn(async move {
            let (mut ws, solved) = open_proven(&url, source).await?;
            let solved = solved.ok_or("the server asked for no proof (--pow-bits 0?)")?;
            send(&mut ws, &ClientMsg::call()).await?;
            // Searching, or matched at once with the client before it.
            while !matches!(
                next_msg(&mut ws).await?,
                ServerMsg::Searching | ServerMsg::Matched { .. }
            ) {}
            drop(permit);
            Fallible::Ok((solved, ws))
        });
    }
    let (mut took, mut bits, mut held) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(result) = tasks.join_next().await {
        let (solved, ws) = result??;
        took.push(solved.took);
        bits.push(solved.bits);
        // Kept open to the end, so every client's whole cost lands inside the measurement.
        held.push(ws);
    }
    let cpu_us = match (server_pid, cpu_before) {
        (Some(pid), Some(before)) => format!(
            "{:.0}",
            (cpu_seconds(pid)? - before) * 1e6 / clients.max(1) as f64
        ),
        _ => "none".to_owned(),
    };
    drop(held);
    let mean = took.iter().sum::<Duration>() / took.len().max(1) as u32;
    let (p50, p99) = percentiles(&mut took);
    bits.sort_unstable();
    println!(
        "RESULT proof clients={clients} bits_min={} bits_max={} solve_mean_ms={:.1} solve_p50_ms={:.1} solve_p99_ms={:.1} verify_us={:.2} server_cpu_us_per_client={cpu_us}",
        bits.first().copied().unwrap_or_default(),
        bits.last().copied().unwrap_or_default(),
        ms(mean),
        ms(p50),
        ms(p99),
        verify_micros(),
    );
    Ok(())
}

/// What one check of a proof costs: `proof::is_solution`, the server's whole check, timed
/// over many different seeds and nonces.
fn verify_micros() -> f64 {
    const CHECKS: u64 = 200_000;
    let seeds: Vec<String> = (0..64u64)
        .map(|i| format!("{:032x}", i * 0x9e37_79b9))
        .collect();
    let started = Instant::now();
    let mut passed = 0u64;
    for n in 0..CHECKS {
        let seed = &seeds[(n % 64) as usize];
        passed += u64::from(proof::is_solution(std::hint::black_box(seed), 16, n));
    }
    std::hint::black_box(passed);
    started.elapsed().as_secs_f64() * 1e6 / CHECKS as f64
}

/// User and system CPU time the process has used, in seconds.
fn cpu_seconds(pid: u32) -> Fallible<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').ok_or("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: u64 = fields.get(11).ok_or("no utime")?.parse::<u64>()?
        + fields.get(12).ok_or("no stime")?.parse::<u64>()?;
    // Linux reports them in USER_HZ, 100 a second on every architecture it runs on.
    Ok(ticks as f64 / 100.0)
}

/// The kernel's counts of connection attempts dropped at a full listen queue (`TcpExt`
/// `ListenOverflows` and `ListenDrops` in /proc/net/netstat), for this network namespace.
fn listen_drops() -> Fallible<(u64, u64)> {
    let netstat = std::fs::read_to_string("/proc/net/netstat")?;
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (
        lines.next().ok_or("no TcpExt header")?,
        lines.next().ok_or("no TcpExt values")?,
    );
    let field = |name: &str| -> Fallible<u64> {
        let at = names
            .split_whitespace()
            .position(|n| n == name)
            .ok_or("no such TcpExt field")?;
        Ok(values
            .split_whitespace()
            .nth(at)
            .ok_or("short TcpExt line")?
            .parse()?)
    };
    Ok((field("ListenOverflows")?, field("ListenDrops")?))
}

async fn storm(
    target: &Target,
    clients: usize,
    seconds: f64,
    server_pid: Option<u32>,
) -> Fallible<()> {
    eprintln!("storm: {clients} clients connecting within {seconds} s, each pressing Call");
    let (overflows_before, drops_before) = listen_drops()?;
    let cpu_before = server_pid.map(cpu_seconds).transpose()?;
    let start = Instant::now() + Duration::from_millis(100);
    let spacing = Duration::from_secs_f64(seconds / clients.max(1) as f64);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        let (url, source) = target.client(i);
        tasks.spawn(async move {
            tokio::time::sleep_until((start + spacing * i as u32).into()).await;
            let opened = Instant::now();
            let mut ws = open(&url, source).await?;
            let greeted = opened.elapsed();
            send(&mut ws, &ClientMsg::call()).await?;
            until_matched(&mut ws).await?;
            let matched = opened.elapsed();
            Fallible::Ok((greeted, matched, ws))
        });
    }
    let (mut greeted, mut matched, mut failed, mut held) = (Vec::new(), Vec::new(), 0, Vec::new());
    while let Some(result) = tasks.join_next().await {
        match result? {
            Ok((g, m, ws)) => {
                greeted.push(g);
                matched.push(m);
                // Kept open until the end: the storm leaves every client connected.
                held.push(ws);
            }
            Err(e) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("  a client failed: {e}");
                }
            }
        }
    }
    let took = start.elapsed().as_secs_f64();
    let (overflows_after, drops_after) = listen_drops()?;
    // What one client cost the server: its connection, upgrade, greeting, Call and match.
    let cpu_us = match (server_pid, cpu_before) {
        (Some(pid), Some(before)) => format!(
            "{:.0}",
            (cpu_seconds(pid)? - before) * 1e6 / clients.max(1) as f64
        ),
        _ => "none".to_owned(),
    };
    let max = matched.iter().max().copied().unwrap_or_default();
    let (g50, g99) = percentiles(&mut greeted);
    let (m50, m99) = percentiles(&mut matched);
    println!(
        "RESULT storm clients={clients} seconds={seconds} matched={} failed={failed} all_done_s={took:.1} handshake_p50_ms={:.2} handshake_p99_ms={:.2} match_p50_ms={:.2} match_p99_ms={:.2} match_max_ms={:.1} listen_overflows={} listen_drops={} server_cpu_us_per_client={cpu_us}",
        matched.len(),
        ms(g50),
        ms(g99),
        ms(m50),
        ms(m99),
        ms(max),
        overflows_after - overflows_before,
        drops_after - drops_before,
    );
    drop(held);
    Ok(())
}

/// When counts arrived during the window, by 10 ms bin: how bursty presence is. A server that
/// told every tab in the same instant would put the whole lobby in one bin.
#[derive(Default)]
struct Arrivals(Mutex<Option<(Instant, Vec<u32>)>>);

const ARRIVAL_BIN: Duration = Duration::from_millis(10);

impl Arrivals {
    fn open_window(&self) {
        *self.0.lock().unwrap() = Some((Instant::now(), Vec::new()));
    }

    fn record(&self) {
        if let Some((start, bins)) = self.0.lock().unwrap().as_mut() {
            let bin = (start.elapsed().as_nanos() / ARRIVAL_BIN.as_nanos()) as usize;
            if bins.len() <= bin {
                bins.resize(bin + 1, 0);
            }
            bins[bin] += 1;
        }
    }

    /// The most counts that arrived within one bin, and the mean over the window's bins.
    fn close_window(&self, window: Duration) -> (u32, f64) {
        let bins = self
            .0
            .lock()
            .unwrap()
            .take()
            .map(|(_, b)| b)
            .unwrap_or_default();
        let in_window = (window.as_nanos() / ARRIVAL_BIN.as_nanos()).max(1) as usize;
        let heard: u32 = bins.iter().take(in_window).sum();
        let most = bins.iter().take(in_window).copied().max().unwrap_or(0);
        (most, f64::from(heard) / in_window as f64)
    }
}

/// Counts the `online` messages a held session receives, and when, until the socket closes.
fn count_online(ws: Ws, counter: Arc<AtomicU64>, arrivals: Arc<Arrivals>) {
    tokio::spawn(async move {
        let mut ws = ws;
        while let Some(Ok(frame)) = ws.next().await {
            if let Message::Text(text) = frame {
                if text.starts_with(r#"{"type":"online""#) {
                    counter.fetch_add(1, Ordering::Relaxed);
                    arrivals.record();
                }
            }
        }
    });
}

async fn presence(
    target: &Target,
    sessions: usize,
    churn: f64,
    seconds: f64,
    settle: f64,
) -> Fallible<()> {
    eprintln!("presence: {sessions} online (lobby, searching, in calls), {churn} arrivals/s");
    let third = sessions / 3;
    let groups: [Arc<AtomicU64>; 3] = Default::default();
    let arrivals = Arc::new(Arrivals::default());
    let (lobby, heard) = (groups[0].clone(), arrivals.clone());
    open_many(target, third, "lobby", move |_, ws| {
        count_online(ws, lobby.clone(), heard.clone());
        async { Ok(()) }
    })
    .await?;
    let (searching, heard) = (groups[1].clone(), arrivals.clone());
    open_many(target, third, "searching", move |i, mut ws| {
        let (searching, heard) = (searching.clone(), heard.clone());
        async move {
            // An interest nobody else has: it stays in the search.
            send(&mut ws, &call_with(format!("s{i}"))).await?;
            if next_msg(&mut ws).await? != ServerMsg::Searching {
                return Err("a searching session was matched; is --interest-wait long?".into());
            }
            count_online(ws, searching, heard);
            Ok(())
        }
    })
    .await?;
    let (in_call, heard) = (groups[2].clone(), arrivals.clone());
    let pairs = third / 2;
    let peer = Arc::new(target.clone());
    open_many(target, pairs, "pairs in calls", move |i, mut a| {
        let (in_call, peer, heard) = (in_call.clone(), peer.clone(), heard.clone());
        async move {
            let source = peer.source(i);
            let mut b = open(peer.peer(), source).await?;
            let tag = format!("c{i}");
            send(&mut a, &call_with(tag.clone())).await?;
            if next_msg(&mut a).await? != ServerMsg::Searching {
                return Err("the first of a pair should wait".into());
            }
            send(&mut b, &call_with(tag)).await?;
            let call_id = until_matched(&mut a).await?;
            until_matched(&mut b).await?;
            // As a page reports its connection up. A call that never connects is given up
            // after --connect-timeout and its pair, sharing a tag nobody else has, is matched
            // again at once: a count may reach them in that instant, and the row would count
            // it against visitors in calls, which real calls (connected) never see.
            let role = Role::Peer1;
            send(&mut a, &ClientMsg::Connected { call_id, role }).await?;
            count_online(a, in_call.clone(), heard.clone());
            count_online(b, in_call, heard);
            Ok(())
        }
    })
    .await?;

    // Visitors arrive and leave again, so the count keeps moving.
    let stop = Arc::new(AtomicBool::new(false));
    let churner = {
        let (target, stop) = (target.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / churn.max(0.01)));
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let (url, source) = target.client(i);
                i += 1;
                // Stays between none and two seconds, so the count moves as a crowd's does.
                let stay = Duration::from_secs_f64(rand::rng().random_range(0.0..2.0));
                tokio::spawn(async move {
                    if let Ok(ws) = open(&url, source).await {
                        tokio::time::sleep(stay).await;
                        drop(ws);
                    }
                });
            }
        })
    };
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    // Counts from the window only.
    for group in &groups {
        group.store(0, Ordering::Relaxed);
    }
    arrivals.open_window();
    let newcomers = tokio::spawn(newcomers(target.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let heard: Vec<u64> = groups.iter().map(|g| g.load(Ordering::Relaxed)).collect();
    let (most, mean) = arrivals.close_window(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    churner.await?;
    let mut first = newcomers.await??;
    first.sort_unstable();
    // Not the p99: a count that is back to the one a newcomer was told is not sent, and under
    // this churn that befalls about one in twenty at its first look.
    let (first_p50, first_p90) = (quantile(&first, 0.50), quantile(&first, 0.90));
    let per_minute =
        |count: u64, clients: usize| count as f64 / clients.max(1) as f64 * 60.0 / seconds;
    println!(
        "RESULT presence sessions={sessions} churn_per_s={churn} seconds={seconds} lobby_per_client_per_min={:.2} searching_per_client_per_min={:.2} in_call_per_client_per_min={:.2} total_msgs_per_s={:.0} most_per_10ms={most} mean_per_10ms={mean:.1} newcomers={} first_count_p50_ms={:.0} first_count_p90_ms={:.0}",
        per_minute(heard[0], third),
        per_minute(heard[1], third),
        per_minute(heard[2], pairs * 2),
        heard.iter().sum::<u64>() as f64 / seconds,
        first.len(),
        ms(first_p50),
        ms(first_p90),
    );
    Ok(())
}

/// Newcomers, four a second until `stop`: each waits for its first count after its greeting
/// (the count keeps moving, so one is due within an interval, unless it is back to the one
/// the newcomer was told) and leaves. Their waits.
async fn newcomers(target: Target, stop: Arc<AtomicBool>) -> Fallible<Vec<Duration>> {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut waits = Vec::new();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let (url, source) = target.client(i);
        i += 1;
        waits.push(tokio::spawn(async move {
            let mut ws = open(&url, source).await?;
            let greeted = Instant::now();
            // next_any gives up after PATIENCE: a newcomer never told a count fails the run.
            while !matches!(next_any(&mut ws).await?, ServerMsg::Online { .. }) {}
            Fallible::Ok(greeted.elapsed())
        }));
    }
    let mut first = Vec::new();
    for wait in waits {
        first.push(wait.await??);
    }
    Ok(first)
}

fn resident_kib(pid: u32) -> Fallible<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS line")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed VmRSS")?
        .parse()?)
}

/// The seed's clients, simulated: every 500 ms each unmatched searcher picks a random other
/// online user (all searchers are online for the whole run, matched or not); two who picked
/// each other in the same round are matched.
fn seed_simulation(searchers: usize, max_seconds: f64, seed: u64) {
    const ROUND: f64 = 0.5;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut matched_at: Vec<Option<f64>> = vec![None; searchers];
    let mut picks = vec![usize::MAX; searchers];
    let rounds = (max_seconds / ROUND) as usize;
    let mut unmatched: Vec<usize> = (0..searchers).collect();
    for round in 1..=rounds {
        if unmatched.len() < 2 || searchers < 2 {
            break;
        }
        for &i in &unmatched {
            let mut pick = rng.random_range(0..searchers - 1);
            if pick >= i {
                pick += 1;
            }
            picks[i] = pick;
        }
        let now = round as f64 * ROUND;
        for &i in &unmatched {
            let j = picks[i];
            if i < j && picks[j] == i && matched_at[j].is_none() && matched_at[i].is_none() {
                matched_at[i] = Some(now);
                matched_at[j] = Some(now);
            }
        }
        unmatched.retain(|&i| matched_at[i].is_none());
    }
    let mut times: Vec<Duration> = matched_at
        .iter()
        .flatten()
        .map(|s| Duration::from_secs_f64(*s))
        .collect();
    let matched = times.len();
    let (p50, p99) = percentiles(&mut times);
    println!(
        "RESULT seed-sim searchers={searchers} matched={matched} within_s={max_seconds} p50_ms={} p99_ms={}",
        if matched > searchers / 2 { format!("{:.0}", ms(p50)) } else { "none".into() },
        if matched * 100 >= searchers * 99 { format!("{:.0}", ms(p99)) } else { "none".into() },
    );
}

/// The median and the p99 of `samples`, which it sorts.
fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort_unstable();
    (quantile(samples, 0.50), quantile(samples, 0.99))
}

/// The `q` quantile of `sorted` (nearest rank); zero for no samples.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
