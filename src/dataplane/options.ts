/** Every data plane setting, with its default. The config layer fills these from file, env and flags. */
export interface DataPlaneOptions {
  /** Longest a request waits for a ready upstream. */
  holdTimeoutMs: number;
  /** Requests that may wait at once, per service. */
  holdQueueSize: number;
  /** Request bodies up to this size are buffered so they can be replayed on another upstream. */
  retryBufferBytes: number;
  /** After a connect failure, the upstream is tried last for this long. */
  failDurationMs: number;
  connectTimeoutMs: number;
  /** Longest wait for an upstream's response headers (then 504). */
  headersTimeoutMs: number;
  /** Longest silence between two response body chunks from an upstream. */
  bodyTimeoutMs: number;
  /** Idle keep-alive time for connections to upstreams. */
  upstreamKeepAliveMs: number;
  connectionsPerUpstream: number;
  /**
   * A request with a body that must not be sent twice (POST, PATCH, or a body too large to buffer)
   * goes upstream with `Expect: 100-continue` and waits this long for the 100 before sending its
   * body anyway; 0: never send Expect.
   */
  expectContinueTimeoutMs: number;
  /** Idle keep-alive time for client connections. */
  clientKeepAliveMs: number;
  /** Client addresses (CIDRs) whose X-Forwarded-* headers are kept and extended. */
  trustedProxies: string[];
  /** How long the proxy's own shutdown waits for in-flight requests. */
  shutdownGraceMs: number;
  /**
   * On shutdown, an idle keep-alive client connection is closed once it has been idle this long;
   * undefined: clientKeepAliveMs (the idle time clients are told in `Keep-Alive: timeout=N`).
   */
  shutdownIdleCloseMs: number | undefined;
  /** The service that takes requests no route matches (else: the one service without hosts and path). */
  defaultService: string | undefined;
  /** One log line per request. */
  accessLog: boolean;
  /** Client connections one listener serves at once; the next as many again are answered 503, more are closed at accept. */
  maxConnections: number;
  /** Bytes of a request's line and header fields together (then 431, or 414 when the request line alone is too long). */
  maxHeaderBytes: number;
  /** Header fields in one request (then 431). */
  maxHeaderCount: number;
  /** Bytes of a request target (URL) (then 414). */
  maxUrlBytes: number;
  /** Longest a client may take to send a request's line and headers (then 408 and the connection closed). */
  clientHeaderTimeoutMs: number;
  /** Longest silence between two bytes of a request body (then 408, or a cut connection once a response began). */
  clientBodyIdleTimeoutMs: number;
}

export const DEFAULT_DATAPLANE_OPTIONS: Readonly<DataPlaneOptions> = Object.freeze({
  holdTimeoutMs: 30_000,
  holdQueueSize: 10_000,
  retryBufferBytes: 1024 * 1024,
  failDurationMs: 2_000,
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 60_000,
  bodyTimeoutMs: 60_000,
  upstreamKeepAliveMs: 4_000,
  connectionsPerUpstream: 256,
  expectContinueTimeoutMs: 1_000,
  clientKeepAliveMs: 5_000,
  trustedProxies: [],
  shutdownGraceMs: 30_000,
  shutdownIdleCloseMs: undefined,
  defaultService: undefined,
  accessLog: false,
  maxConnections: 16_384,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  maxUrlBytes: 8 * 1024,
  clientHeaderTimeoutMs: 10_000,
  clientBodyIdleTimeoutMs: 30_000,
});
