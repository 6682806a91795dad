// The messages of leaf's WebSocket protocol (docs/protocol.md; the server's side is
// leaf/src/hub/protocol.rs), as the app uses them.

/** The newest event of one type, as a snapshot holds it. */
export interface Latest {
	seq: number;
	ts: string;
	data: unknown;
}

export interface TournamentEvent {
	seq: number;
	ts: string;
	type: string;
	data: unknown;
}

export type ServerMessage =
	| { type: 'connected'; protocol: number; server_id: string; ping_interval_ms: number }
	| { type: 'snapshot'; tournament_id: string; seq: number; state: Record<string, Latest> }
	| {
			type: 'event';
			tournament_id: string;
			seq: number;
			ts: string;
			event: { type: string; data: unknown };
	  }
	| { type: 'announcement'; data: Record<string, unknown> }
	| { type: 'pong' }
	| { type: 'error'; code: string; message: string };

/** Close codes 4000–4499: reconnect and resume. */
export const RESYNC = 4008;
/** Close codes 4500–4999: final, the same request fails the same way. */
export function isFinal(code: number): boolean {
	return code >= 4500 && code <= 4999;
}

/**
 * Why a token stopped working while its socket was open: its viewer link was deleted or its
 * TD removed (`revoked`, 4501), or it reached its expiry (`expired`, 4502). Both are final,
 * and only the person holding the token can fix them, with a new link or a new sign-in.
 */
export type TokenEnd = 'revoked' | 'expired';
export const REVOKED = 4501;
export const EXPIRED = 4502;

/** The token's end a close code reports, or null for any other code. */
export function tokenEnd(code: number): TokenEnd | null {
	switch (code) {
		case REVOKED:
			return 'revoked';
		case EXPIRED:
			return 'expired';
		default:
			return null;
	}
}

/** Parses one frame; `null` for anything that is not a message we know. */
export function parse(frame: unknown): ServerMessage | null {
	if (typeof frame !== 'string') return null;
	let value: unknown;
	try {
		value = JSON.parse(frame);
	} catch {
		return null;
	}
	if (typeof value !== 'object' || value === null) return null;
	const message = value as { type?: unknown; seq?: unknown; event?: { type?: unknown } };
	switch (message.type) {
		case 'snapshot':
			return Number.isSafeInteger(message.seq) ? (value as ServerMessage) : null;
		case 'event':
			return Number.isSafeInteger(message.seq) && typeof message.event?.type === 'string'
				? (value as ServerMessage)
				: null;
		case 'connected':
		case 'announcement':
		case 'pong':
		case 'error':
			return value as ServerMessage;
		default:
			return null;
	}
}

/** "level_up" → "Level up". */
export function label(type: string): string {
	const words = type.replace(/[_-]+/g, ' ').trim();
	return words.charAt(0).toUpperCase() + words.slice(1);
}

/** An event's data in a line a person can read at a glance: `a: 1 · b: two`. */
export function summary(data: unknown): string {
	if (data === null || data === undefined) return '';
	if (typeof data !== 'object') return String(data);
	if (Array.isArray(data)) return data.map(summary).join(', ');
	return Object.entries(data as Record<string, unknown>)
		.map(([key, value]) =>
			typeof value === 'object' && value !== null
				? `${label(key)}: ${JSON.stringify(value)}`
				: `${label(key)}: ${String(value)}`
		)
		.join(' · ');
}

/** Events newest first, each seq once, at most `limit`. */
export function newestFirst(events: TournamentEvent[], limit: number): TournamentEvent[] {
	const bySeq = new Map(events.map((e) => [e.seq, e]));
	return [...bySeq.values()].sort((a, b) => b.seq - a.seq).slice(0, limit);
}
