// A live connection to one tournament on leaf: connects, keeps the last seq, and on any
// drop reconnects with back-off and `since`, so the caller sees every event once, in order,
// without reloading. See docs/protocol.md, "A display client, in short". A final close code
// (4500–4999) stops it for good, and reports `ended` when the token itself stopped working.

import {
	isFinal,
	parse,
	RESYNC,
	tokenEnd,
	type Latest,
	type TokenEnd,
	type TournamentEvent
} from './protocol';

export type Status =
	/** Opening the first connection. */
	| { kind: 'connecting' }
	/** Connected and following. */
	| { kind: 'live' }
	/** Lost; the next attempt is at `at` (ms since the epoch). */
	| { kind: 'reconnecting'; attempt: number; at: number }
	/** leaf refused for good (a link for another tournament, an expired link): no retry. */
	| { kind: 'refused'; reason: string }
	/** leaf closed the open socket because the token stopped working (4501, 4502): no retry.
	 * Kept apart from `refused` because the fix differs: a viewer needs a new link, a TD must
	 * be signed out. */
	| { kind: 'ended'; why: TokenEnd };

/** The states after which nothing reconnects until start() is called again. */
export type Final = Extract<Status, { kind: 'refused' | 'ended' }>;

/** What the client needs of a WebSocket; the browser's satisfies it. */
export interface SocketLike {
	onopen: ((ev: unknown) => void) | null;
	onmessage: ((ev: { data: unknown }) => void) | null;
	onclose: ((ev: { code: number; reason: string }) => void) | null;
	onerror: ((ev: unknown) => void) | null;
	send(data: string): void;
	close(code?: number, reason?: string): void;
}

export interface LiveHandlers {
	/** The whole state at `seq`: replaces whatever the caller held. */
	snapshot?(seq: number, state: Record<string, Latest>): void;
	/** The next event, exactly once and in seq order. */
	event?(event: TournamentEvent): void;
	announcement?(data: Record<string, unknown>): void;
	status?(status: Status): void;
}

export interface LiveOptions {
	/** The socket URL; `since` is the last seq held, or null for a fresh snapshot. */
	url(since: number | null): string;
	/** Start from this seq (0: the whole log, if leaf still replays that far) instead of a snapshot. */
	since?: number;
	/**
	 * Asked after a connection that never opened. A browser cannot see why an upgrade was
	 * refused, so the caller asks leaf over HTTP: a string is a final refusal, null retries.
	 */
	diagnose?(): Promise<string | null>;
	connect?(url: string): SocketLike;
	/** Back-off: the first delay and the longest, in ms (docs: 1 s, 2 s, 4 s … 30 s). */
	initialDelayMs?: number;
	maxDelayMs?: number;
	random?(): number;
	now?(): number;
}

const DEFAULT_PING_MS = 10_000;
/** Silence for this many ping intervals means the connection is dead. */
const SILENT_PINGS = 3;
/** A connection that has not said `connected` by then is stuck (a half-open Wi-Fi link). */
const CONNECT_TIMEOUT_MS = 10_000;

export class LiveTournament {
	private socket: SocketLike | null = null;
	private lastSeq: number | null = null;
	private attempt = 0;
	private retryTimer: ReturnType<typeof setTimeout> | null = null;
	private pingTimer: ReturnType<typeof setInterval> | null = null;
	private connectTimer: ReturnType<typeof setTimeout> | null = null;
	private lastHeard = 0;
	/** Gaps in a row: the first resumes at once, the next ones back off. */
	private gaps = 0;
	private stopped = true;
	/** Bumped by start() and stop(): work begun under an older run (a slow diagnosis, a
	 * timer) sees a different number and does nothing. */
	private run = 0;

	constructor(
		private readonly options: LiveOptions,
		private readonly handlers: LiveHandlers
	) {
		this.lastSeq = options.since ?? null;
	}

	/** The last seq applied; what a reconnect resumes from. */
	get seq(): number | null {
		return this.lastSeq;
	}

	/** Connects; does nothing if already started. */
	start(): void {
		if (!this.stopped) return;
		this.stopped = false;
		this.run += 1;
		this.attempt = 0;
		this.gaps = 0;
		this.setStatus({ kind: 'connecting' });
		this.open();
	}

	stop(): void {
		this.stopped = true;
		this.run += 1;
		this.clearTimers();
		const socket = this.socket;
		this.socket = null;
		if (socket) {
			this.detach(socket);
			socket.close(1000, 'bye');
		}
	}

	private now(): number {
		return this.options.now?.() ?? Date.now();
	}

	private setStatus(status: Status): void {
		this.handlers.status?.(status);
	}

	private open(): void {
		const connect = this.options.connect ?? ((url: string) => new WebSocket(url) as SocketLike);
		let socket: SocketLike;
		try {
			socket = connect(this.options.url(this.lastSeq));
		} catch {
			this.retry(false);
			return;
		}
		this.socket = socket;
		let opened = false;
		this.connectTimer = setTimeout(() => {
			if (this.socket === socket) this.reconnect(socket, false);
		}, CONNECT_TIMEOUT_MS);
		socket.onopen = () => {
			opened = true;
			this.lastHeard = this.now();
		};
		socket.onmessage = (ev) => {
			if (this.socket === socket) this.receive(ev.data);
		};
		socket.onerror = () => {};
		socket.onclose = (ev) => {
			if (this.socket !== socket) return;
			this.socket = null;
			this.clearTimers();
			if (this.stopped) return;
			const ended = tokenEnd(ev.code);
			if (ended) {
				this.finish({ kind: 'ended', why: ended });
			} else if (isFinal(ev.code)) {
				this.finish({ kind: 'refused', reason: ev.reason || `closed by leaf (${ev.code})` });
			} else if (ev.code === RESYNC) {
				// We fell behind and leaf dropped messages: resume at once from what we hold.
				this.schedule(0);
			} else {
				this.retry(!opened);
			}
		};
	}

	private receive(frame: unknown): void {
		this.lastHeard = this.now();
		const message = parse(frame);
		if (!message) return;
		switch (message.type) {
			case 'connected':
				this.attempt = 0;
				if (this.connectTimer) clearTimeout(this.connectTimer);
				this.connectTimer = null;
				this.startPings(message.ping_interval_ms || DEFAULT_PING_MS);
				this.setStatus({ kind: 'live' });
				break;
			case 'snapshot':
				this.lastSeq = message.seq;
				this.handlers.snapshot?.(message.seq, message.state ?? {});
				break;
			case 'event': {
				const last = this.lastSeq;
				if (last !== null && message.seq <= last) return; // already held
				if (last !== null && message.seq !== last + 1) {
					// A gap: never show events out of order; resume from what we hold. Should
					// leaf keep sending gaps, back off rather than spin.
					this.gaps += 1;
					if (this.socket) this.reconnect(this.socket, this.gaps === 1);
					return;
				}
				this.gaps = 0;
				this.lastSeq = message.seq;
				this.handlers.event?.({
					seq: message.seq,
					ts: message.ts,
					type: message.event.type,
					data: message.event.data
				});
				break;
			}
			case 'announcement':
				this.handlers.announcement?.(message.data ?? {});
				break;
			default:
				break;
		}
	}

	private startPings(intervalMs: number): void {
		if (this.pingTimer) clearInterval(this.pingTimer);
		let lastTick = this.now();
		this.pingTimer = setInterval(() => {
			const now = this.now();
			// A background tab's timers are throttled (to once a minute on phones): a late
			// tick says nothing about the connection, only that we were asleep.
			const late = now - lastTick > intervalMs * 2;
			lastTick = now;
			if (!late && now - this.lastHeard > intervalMs * SILENT_PINGS) {
				// Nothing heard for three pings: the Wi-Fi dropped without a close.
				if (this.socket) this.reconnect(this.socket, true);
				return;
			}
			try {
				this.socket?.send('{"type":"ping"}');
			} catch {
				if (this.socket) this.reconnect(this.socket, true);
			}
		}, intervalMs);
	}

	/** Drops `socket` and connects again from the last seq: at once, or after back-off. */
	private reconnect(socket: SocketLike, now: boolean): void {
		this.socket = null;
		this.clearTimers();
		this.detach(socket);
		socket.close(4000, 'resuming');
		if (this.stopped) return;
		if (now) this.schedule(0);
		else this.retry(false);
	}

	private async retry(neverOpened: boolean): Promise<void> {
		if (neverOpened && this.options.diagnose) {
			const run = this.run;
			const refusal = await this.options.diagnose().catch(() => null);
			if (this.stopped || run !== this.run) return;
			if (refusal) {
				this.finish({ kind: 'refused', reason: refusal });
				return;
			}
		}
		const initial = this.options.initialDelayMs ?? 1000;
		const max = this.options.maxDelayMs ?? 30_000;
		const base = Math.min(max, initial * 2 ** this.attempt);
		// Jitter, so a room of screens does not reconnect in lockstep after leaf restarts.
		const random = this.options.random?.() ?? Math.random();
		this.schedule(Math.round(base * (0.75 + random * 0.5)));
	}

	private schedule(delayMs: number): void {
		if (this.retryTimer) clearTimeout(this.retryTimer);
		this.attempt += 1;
		this.setStatus({ kind: 'reconnecting', attempt: this.attempt, at: this.now() + delayMs });
		const run = this.run;
		this.retryTimer = setTimeout(() => {
			this.retryTimer = null;
			if (!this.stopped && run === this.run && !this.socket) this.open();
		}, delayMs);
	}

	private finish(status: Final): void {
		this.stopped = true;
		this.clearTimers();
		this.setStatus(status);
	}

	private clearTimers(): void {
		if (this.retryTimer) clearTimeout(this.retryTimer);
		if (this.pingTimer) clearInterval(this.pingTimer);
		if (this.connectTimer) clearTimeout(this.connectTimer);
		this.retryTimer = null;
		this.pingTimer = null;
		this.connectTimer = null;
	}

	private detach(socket: SocketLike): void {
		socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
	}
}
