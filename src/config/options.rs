//! THE OPTION TABLE: every setting of the server, once. From each entry follow the field of
//! [`Config`] the server reads, its default, the command-line flag, the config file key,
//! `--help`, `--check-config`, `diff` on reload, and the tests that hold `snak.example.toml` and
//! README.md to it.
//!
//! To add an option, add one entry (and its key to `snak.example.toml`, and the new `--help` to
//! README.md: the tests say exactly what is missing):
//!
//! ```text
//! /// Doc for the field.
//! field_name: FieldType {
//!     flag: "--flag-name ARG",          // ARG left out for a switch
//!     off: ("--no-thing", "help"),       // optional: a flag that empties the value
//!     key: "section.flag_name",          // the flag without --, its section prefix, or no-
//!     kind: Num::at_least(1),            // how values are read and checked (see kinds.rs)
//!     reload: Live,                      // Live: a reload applies it; Restart: it waits
//!     default: 1 << 20,                  // a Rust expression of FieldType
//!     help: "what it does",              // `(default ...)` and `(repeatable)` are added
//! },
//! ```
//!
//! Keys: a flag whose name starts with a section's name is in that section without the prefix
//! (`--irc-ping` is `ping` in `[irc]`); limits are in `[limits]`; a `--no-` switch is the key
//! without `no-`, set to false. A test checks every entry keeps to this.

use std::net::SocketAddr;
use std::time::Duration;

use super::kinds::{
    Addrs, DataDir, FilePath, LogLevel, Maybe, Motd, NatsUrls, Num, Opers, Origins, Password, Secs,
    StoreUrl, Switch, Url, NETWORK_NAME, SERVER_NAME, TEXT,
};
use super::secret::Secret;

/// The longest timer an option may set: a day (an `Instant` plus more could overflow).
const DAY: u64 = 24 * 60 * 60;

options! {
    /// Native protocol listeners.
    listen: Vec<SocketAddr> {
        flag: "--listen ADDR",
        key: "listen",
        kind: Addrs,
        reload: Live,
        default: vec![SocketAddr::from(([127, 0, 0, 1], 12345))],
        help: "native protocol listener",
    },
    /// The name the server gives itself (IRC prefixes, welcome).
    server_name: String {
        flag: "--server-name NAME",
        key: "server_name",
        kind: SERVER_NAME,
        reload: Restart,
        default: "snak.localhost".into(),
        help: "the name the server gives itself",
    },
    /// What the server says of itself (IRC LINKS, VERSION).
    server_info: String {
        flag: "--server-info TEXT",
        key: "server_info",
        kind: TEXT,
        reload: Live,
        default: "snak chat server".into(),
        help: "what the server says of itself (IRC LINKS)",
    },
    /// Names in ASCII only, compared without regard to ASCII case (the old rules); otherwise
    /// UTF-8 names per RFC 8265 with look-alikes refused (see `names`).
    ascii_names: bool {
        flag: "--ascii-names",
        key: "ascii_names",
        kind: Switch { given: true },
        reload: Restart,
        default: false,
        help: "nicks and room names in ASCII only (otherwise UTF-8, compared per RFC 8265, \
               look-alikes of names in use refused)",
    },
    /// The password IRC clients must give with PASS, if any.
    password: Option<Secret> {
        flag: "--password PASS",
        key: "password",
        kind: Maybe(Password),
        reload: Live,
        default: None,
        help: "IRC clients must send it with PASS to register (plain or an argon2id hash)",
    },
    /// IRC server operators' credentials: (name, password).
    opers: Vec<(String, Secret)> {
        flag: "--oper NAME:PASSWORD",
        key: "oper",
        kind: Opers,
        reload: Live,
        default: Vec::new(),
        help: "an IRC operator for OPER; PASSWORD plain or an argon2id hash",
    },
    /// The message of the day, as lines.
    motd: Option<Vec<String>> {
        flag: "--motd FILE",
        key: "motd",
        kind: Maybe(Motd),
        reload: Live,
        default: None,
        help: "the IRC message of the day (default: none, numeric 422)",
    },
    /// Where accounts, registered rooms and history are kept; `none`: nothing is kept.
    data_dir: String {
        flag: "--data-dir DIR",
        key: "data_dir",
        kind: DataDir,
        reload: Restart,
        default: "snak-data".into(),
        help: "where accounts, registered rooms and history are kept (created on first start); \
               none keeps nothing",
    },
    /// A PostgreSQL database for accounts, registered rooms and history instead of SQLite in
    /// the data directory: the store every node of a network shares.
    store_url: String {
        flag: "--store-url URL",
        key: "store_url",
        kind: StoreUrl,
        reload: Restart,
        default: String::new(),
        help: "keep accounts, registered rooms and history in this PostgreSQL database, \
               postgres://USER[:PASSWORD]@HOST:PORT/DATABASE, instead of SQLite in --data-dir; \
               the nodes of a network given one database share them (off unless given)",
    },
    /// How long a user may keep a nick that belongs to an account it is not logged in to.
    nick_grace: Duration {
        flag: "--nick-grace SECS",
        key: "nick_grace",
        kind: Secs { min: 0, max: DAY },
        reload: Live,
        default: Duration::from_secs(30),
        help: "a user holding a registered nick without logging in to its account is renamed \
               to a guest nick after this long (0: nicks are not protected)",
    },
    /// Whether IRC clients may register an account (draft/account-registration) before
    /// their connection is registered.
    early_register: bool {
        flag: "--no-early-register",
        key: "early_register",
        kind: Switch { given: false },
        reload: Live,
        default: true,
        help: "IRC clients must finish connecting before REGISTER makes them an account",
    },
    /// The log level (RUST_LOG, if set, wins at start).
    log_level: String {
        flag: "--log-level LEVEL",
        key: "log_level",
        kind: LogLevel,
        reload: Live,
        default: "info".into(),
        help: "error, warn, info, debug or trace",
    },
    /// Prometheus metrics listeners.
    metrics_listen: Vec<SocketAddr> {
        flag: "--metrics-listen ADDR",
        key: "metrics_listen",
        kind: Addrs,
        reload: Live,
        default: Vec::new(),
        help: "serve Prometheus metrics at GET /metrics here (off unless given; keep it private)",
    },
    /// NATS servers through which this server is one node of a network (docs/NETWORK.md);
    /// none: a server on its own, and nothing of the network costs anything.
    bus: Vec<String> {
        flag: "--bus URL",
        key: "bus",
        kind: NatsUrls,
        reload: Restart,
        default: Vec::new(),
        help: "be one node of a network of snak servers through this NATS server, \
               nats://HOST:PORT (one per server of a NATS cluster; off unless given)",
    },
    /// The network's name on NATS: several networks may share one NATS cluster.
    network: String {
        flag: "--network NAME",
        key: "network",
        kind: NETWORK_NAME,
        reload: Restart,
        default: "snak".into(),
        help: "the network's name on NATS (letters, digits, - and _), with --bus",
    },
    /// A node that dies is gone from every member list (its nicks freed) within this.
    bus_ttl: Duration {
        flag: "--bus-ttl SECS",
        key: "bus_ttl",
        kind: Secs { min: 1, max: 600 },
        reload: Restart,
        default: Duration::from_secs(15),
        help: "a node that stops renewing its key is gone, its nicks freed, within this",
    },
    /// While NATS is away, other servers' users stay listed this long, then leave.
    bus_grace: Duration {
        flag: "--bus-grace SECS",
        key: "bus_grace",
        kind: Secs { min: 0, max: DAY },
        reload: Restart,
        default: Duration::from_secs(10),
        help: "while NATS is away, other servers' users are shown leaving after this",
    },
    /// Listeners share their ports with other processes (several nodes on one machine).
    reuse_port: bool {
        flag: "--reuse-port",
        key: "reuse_port",
        kind: Switch { given: true },
        reload: Restart,
        default: false,
        help: "listeners share their ports with other processes (SO_REUSEPORT); on with --bus",
    },
    /// IRC listeners.
    irc_listen: Vec<SocketAddr> {
        flag: "--irc-listen ADDR",
        off: ("--no-irc", "no IRC listener (in the file listen = [])"),
        key: "irc.listen",
        kind: Addrs,
        reload: Live,
        default: vec![SocketAddr::from(([127, 0, 0, 1], 6667))],
        help: "IRC listener",
    },
    /// An IRC client silent this long is pinged; silent as long again, it is dropped.
    irc_ping: Duration {
        flag: "--irc-ping SECS",
        key: "irc.ping",
        kind: Secs { min: 1, max: DAY },
        reload: Live,
        default: Duration::from_secs(120),
        help: "ping IRC clients silent this long, drop them if silent as long again; also the \
               registration deadline if under 60",
    },
    /// IRC listeners over TLS.
    irc_tls_listen: Vec<SocketAddr> {
        flag: "--irc-tls-listen ADDR",
        key: "irc.tls_listen",
        kind: Addrs,
        reload: Live,
        default: Vec::new(),
        help: "IRC listener over TLS, 6697 by convention (needs --tls-cert and --tls-key)",
    },
    /// How long IRC clients should keep to TLS (the `sts` capability); 0: not advertised.
    sts_duration: Duration {
        flag: "--sts-duration SECS",
        key: "irc.sts_duration",
        kind: Secs { min: 0, max: 400 * DAY },
        reload: Live,
        default: Duration::from_secs(30 * DAY),
        help: "with an IRC TLS listener, IRC clients are told to use only TLS for this long \
               (the sts capability); 0 tells no one",
    },
    /// Native protocol listeners over TLS.
    tls_listen: Vec<SocketAddr> {
        flag: "--tls-listen ADDR",
        key: "tls.listen",
        kind: Addrs,
        reload: Live,
        default: Vec::new(),
        help: "native protocol listener over TLS (needs --tls-cert and --tls-key)",
    },
    /// The certificate chain (PEM) for TLS listeners.
    tls_cert: Option<std::path::PathBuf> {
        flag: "--tls-cert FILE",
        key: "tls.cert",
        kind: Maybe(FilePath),
        reload: Live,
        default: None,
        help: "the TLS certificate chain, PEM (Let's Encrypt's fullchain.pem works as it is)",
    },
    /// The private key (PEM) of `tls_cert`.
    tls_key: Option<std::path::PathBuf> {
        flag: "--tls-key FILE",
        key: "tls.key",
        kind: Maybe(FilePath),
        reload: Live,
        default: None,
        help: "the TLS private key, PEM (Let's Encrypt's privkey.pem)",
    },
    /// A TLS handshake not done in this time is dropped.
    tls_handshake: Duration {
        flag: "--tls-handshake-secs SECS",
        key: "tls.handshake_secs",
        kind: Secs { min: 1, max: 600 },
        reload: Live,
        default: Duration::from_secs(10),
        help: "a TLS handshake not done in this time is dropped",
    },
    /// HTTP listeners: the page, WebSocket, file links.
    web_listen: Vec<SocketAddr> {
        flag: "--web-listen ADDR",
        off: ("--no-web", "no web listener (in the file listen = [] under [web])"),
        key: "web.listen",
        kind: Addrs,
        reload: Live,
        default: vec![SocketAddr::from(([127, 0, 0, 1], 8080))],
        help: "web listener: snak's page, WebSocket (IRC and native) and file links",
    },
    /// HTTPS listeners (the TLS certificate above).
    web_tls_listen: Vec<SocketAddr> {
        flag: "--web-tls-listen ADDR",
        key: "web.tls_listen",
        kind: Addrs,
        reload: Live,
        default: Vec::new(),
        help: "web listener over TLS (HTTPS, WSS; needs --tls-cert and --tls-key)",
    },
    /// Other pages' origins that may open a WebSocket (the server's own always may).
    web_origin: Vec<String> {
        flag: "--web-origin ORIGIN",
        key: "web.origin",
        kind: Origins,
        reload: Live,
        default: Vec::new(),
        help: "another page that may open a WebSocket here, e.g. https://chat.example.org \
               (the server's own page always may)",
    },
    /// An HTTP request head must be complete this soon (a slow request is dropped).
    web_request: Duration {
        flag: "--web-request-secs SECS",
        key: "web.request_secs",
        kind: Secs { min: 1, max: 600 },
        reload: Live,
        default: Duration::from_secs(10),
        help: "an HTTP request head must be complete this soon, or the connection is dropped",
    },
    /// Where file links point; None: the first web listener's address.
    web_url: Option<String> {
        flag: "--web-url URL",
        key: "web.url",
        kind: Maybe(Url),
        reload: Live,
        default: None,
        help: "the address file links point to, e.g. https://chat.example.org \
               (default: the first web listener's)",
    },
    /// The largest file a FILEHOST upload may be; 0: uploads are off.
    filehost_max_size: u64 {
        flag: "--filehost-max-size BYTES",
        key: "filehost.max_size",
        kind: Num::at_least(0),
        reload: Live,
        default: 25 << 20,
        help: "largest file IRC clients may upload (FILEHOST, stored under --data-dir; \
               0: no uploads)",
    },
    /// All stored uploads together at most.
    filehost_total: u64 {
        flag: "--filehost-total BYTES",
        key: "filehost.total",
        kind: Num::at_least(0),
        reload: Live,
        default: 1 << 30,
        help: "most bytes of uploads stored at once, everyone's together",
    },
    /// One account's stored uploads together at most.
    filehost_quota: u64 {
        flag: "--filehost-quota BYTES",
        key: "filehost.quota",
        kind: Num::at_least(0),
        reload: Live,
        default: 100 << 20,
        help: "most bytes of uploads one account may have stored at once",
    },
    /// How long an upload is kept.
    filehost_expiry: Duration {
        flag: "--filehost-expiry-secs SECS",
        key: "filehost.expiry_secs",
        kind: Secs { min: 1, max: 366 * DAY },
        reload: Live,
        default: Duration::from_secs(DAY),
        help: "uploads are deleted this long after they were made",
    },
    /// Lines of a room's history a joiner gets.
    history_on_join: usize {
        flag: "--history-on-join N",
        key: "history.on_join",
        kind: Num { min: 0, max: 1000 },
        reload: Live,
        default: 50,
        help: "lines of a room's history a joiner gets (0: none)",
    },
    /// Days of history kept; 0 keeps it as long as the count allows.
    history_days: u64 {
        flag: "--history-days N",
        key: "history.days",
        kind: Num { min: 0, max: 36_500 },
        reload: Live,
        default: 90,
        help: "days of history kept (0: no age limit)",
    },
    /// Lines kept per room or conversation; 0 keeps as many as the age allows.
    history_max_per_room: u64 {
        flag: "--history-max-per-room N",
        key: "history.max_per_room",
        kind: Num::at_least(0),
        reload: Live,
        default: 100_000,
        help: "lines of history kept per room or conversation (0: no count limit)",
    },
    /// Whether room messages and direct messages are kept as history.
    history_store: bool {
        flag: "--no-history-store",
        key: "history.store",
        kind: Switch { given: false },
        reload: Live,
        default: true,
        help: "keep no new history: messages are not stored (what was kept stays readable)",
    },
    /// None: as many as the open-file limit allows.
    max_clients: Option<usize> {
        flag: "--max-clients N",
        key: "limits.max_clients",
        kind: Maybe(Num::at_least(1)),
        reload: Live,
        default: None,
        help: "most connections at once (default: as many as the open-file limit allows)",
    },
    max_per_ip: u32 {
        flag: "--max-per-ip N",
        key: "limits.max_per_ip",
        kind: Num::at_least(1),
        reload: Live,
        default: 10,
        help: "most connections from one address, loopback exempt",
    },
    max_conn_rate: u32 {
        flag: "--max-conn-rate N",
        key: "limits.max_conn_rate",
        kind: Num::at_least(1),
        reload: Live,
        default: 30,
        help: "most new connections from one address per minute",
    },
    limit_loopback: bool {
        flag: "--limit-loopback",
        key: "limits.limit_loopback",
        kind: Switch { given: true },
        reload: Live,
        default: false,
        help: "apply the per-address limits to loopback too",
    },
    max_line: usize {
        flag: "--max-line BYTES",
        key: "limits.max_line",
        kind: Num { min: 64, max: 1 << 24 },
        reload: Live,
        default: 8192,
        help: "longest native protocol line",
    },
    max_file_size: u64 {
        flag: "--max-file-size BYTES",
        key: "limits.max_file_size",
        kind: Num::at_least(0),
        reload: Live,
        default: 1 << 30,
        help: "largest file offer",
    },
    max_sendq: usize {
        flag: "--max-sendq BYTES",
        key: "limits.max_sendq",
        kind: Num::at_least(4096),
        reload: Live,
        default: 1 << 20,
        help: "most bytes queued for a slow reader before it is dropped",
    },
    /// A reader over this many queued bytes for `sendq_soft_for` is dropped.
    sendq_soft: usize {
        flag: "--sendq-soft BYTES",
        key: "limits.sendq_soft",
        kind: Num::at_least(1024),
        reload: Live,
        default: 256 << 10,
        help: "a slow reader over this many queued bytes for --sendq-soft-secs is dropped",
    },
    sendq_soft_for: Duration {
        flag: "--sendq-soft-secs SECS",
        key: "limits.sendq_soft_secs",
        kind: Secs { min: 0, max: DAY },
        reload: Live,
        default: Duration::from_secs(20),
        help: "how long a reader may stay over --sendq-soft",
    },
    max_targets: usize {
        flag: "--max-targets N",
        key: "limits.max_targets",
        kind: Num { min: 1, max: 100 },
        reload: Live,
        default: 4,
        help: "most rooms and nicks one message may name",
    },
    max_rooms_per_user: usize {
        flag: "--max-rooms-per-user N",
        key: "limits.max_rooms_per_user",
        kind: Num { min: 1, max: 10_000 },
        reload: Live,
        default: 100,
        help: "most rooms one user may be in",
    },
    max_rooms: usize {
        flag: "--max-rooms N",
        key: "limits.max_rooms",
        kind: Num::at_least(1),
        reload: Live,
        default: 100_000,
        help: "most rooms the server holds",
    },
    max_transfers: usize {
        flag: "--max-transfers N",
        key: "limits.max_transfers",
        kind: Num { min: 1, max: 1000 },
        reload: Live,
        default: 8,
        help: "most file offers and transfers one user may have open",
    },
    /// A file sender held back by its recipient this long has its transfer aborted.
    file_stall: Duration {
        flag: "--file-stall-secs SECS",
        key: "limits.file_stall_secs",
        kind: Secs { min: 1, max: DAY },
        reload: Live,
        default: Duration::from_secs(30),
        help: "a file sender held back this long by a slow recipient has its transfer aborted",
    },
    /// An accepted transfer with no data this long is aborted.
    file_idle: Duration {
        flag: "--file-idle-secs SECS",
        key: "limits.file_idle_secs",
        kind: Secs { min: 1, max: DAY },
        reload: Live,
        default: Duration::from_secs(120),
        help: "an accepted transfer with no data for this long is aborted",
    },
    /// IPv6 clients count against the per-address limits by this many leading bits.
    ipv6_prefix: u8 {
        flag: "--ipv6-prefix BITS",
        key: "limits.ipv6_prefix",
        kind: Num { min: 16, max: 128 },
        reload: Live,
        default: 64,
        help: "per-address limits count IPv6 clients by this prefix",
    },
    quiet_room_size: usize {
        flag: "--quiet-room-size N",
        key: "limits.quiet_room_size",
        kind: Num::at_least(1),
        reload: Live,
        default: 500,
        help: "rooms with more members announce no joins, parts or quits",
    },
    /// How long a file offer waits for an answer.
    offer_timeout: Duration {
        flag: "--offer-timeout SECS",
        key: "limits.offer_timeout",
        kind: Secs { min: 1, max: DAY },
        reload: Live,
        default: Duration::from_secs(60),
        help: "how long a file offer waits for an answer",
    },
    flood_limit: bool {
        flag: "--no-flood-limit",
        key: "limits.flood_limit",
        kind: Switch { given: false },
        reload: Live,
        default: true,
        help: "do not slow down fast senders (trusted load tests only)",
    },
}
