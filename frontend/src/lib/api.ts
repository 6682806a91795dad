// leaf's HTTP API (`/api/v1`, described at /api/v1/openapi.json), typed for the app.

import { LINK_ENDED } from './ended';

export class ApiError extends Error {
	constructor(
		readonly status: number,
		message: string,
		readonly code?: string,
		/** Seconds leaf asked to wait before retrying (`Retry-After`), when it said. */
		readonly retryAfterS?: number
	) {
		super(message);
	}

	/** leaf is doing as much of this as it takes at once (503 `busy`): retry after a wait. */
	get busy(): boolean {
		return this.status === 503 && this.code === 'busy';
	}
}

export interface TournamentSummary {
	id: string;
	name: string;
	created_at: string;
	last_seq: number;
}

export interface ViewerLink {
	id: string;
	token: string;
	url: string;
	expires_at: number;
	qr_svg: string;
}

/** An answer later than this is a failure: a TD or a screen must not wait on a dead link. */
const TIMEOUT_MS = 10_000;

interface Request {
	method?: 'GET' | 'POST' | 'DELETE';
	timeoutMs?: number;
	token?: string | null;
	body?: unknown;
	headers?: Record<string, string>;
}

/** Calls the API; a non-2xx answer becomes an ApiError with leaf's own message. */
export async function api<T>(path: string, request: Request = {}): Promise<T> {
	const headers: Record<string, string> = { Accept: 'application/json', ...request.headers };
	if (request.token) headers.Authorization = `Bearer ${request.token}`;
	if (request.body !== undefined) headers['Content-Type'] = 'application/json';
	let response: Response;
	try {
		response = await fetch(`/api/v1${path}`, {
			method: request.method ?? 'GET',
			headers,
			body: request.body === undefined ? undefined : JSON.stringify(request.body),
			signal: AbortSignal.timeout(request.timeoutMs ?? TIMEOUT_MS)
		});
	} catch {
		throw new ApiError(0, 'Cannot reach leaf. Check the venue network.');
	}
	const text = await response.text();
	let value: unknown = null;
	try {
		value = text ? JSON.parse(text) : null;
	} catch {
		value = null;
	}
	if (!response.ok) {
		const error = (value as { error?: { code?: string; message?: string } } | null)?.error;
		const retryAfter = Number(response.headers.get('Retry-After'));
		throw new ApiError(
			response.status,
			error?.message ?? `leaf answered ${response.status}`,
			error?.code,
			Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined
		);
	}
	return value as T;
}

/** How often a read told "busy" is tried again before giving up. */
const BUSY_ATTEMPTS = 5;

/**
 * [`api`] for reads that many screens make at once (a room of phones on one link after a
 * Wi-Fi blip): a `503 busy` answer is retried after its `Retry-After`, spread out a little so
 * the room does not come back in step.
 */
export async function apiPatient<T>(
	path: string,
	request: Request = {},
	sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))
): Promise<T> {
	for (let attempt = 1; ; attempt++) {
		try {
			return await api<T>(path, request);
		} catch (e) {
			if (!(e instanceof ApiError) || !e.busy || attempt >= BUSY_ATTEMPTS) throw e;
			const waitS = e.retryAfterS ?? 1;
			await sleep(waitS * 1000 * (1 + Math.random() * 0.5));
		}
	}
}

/** The socket URL for one tournament on the leaf that served this page. */
export function socketUrl(tournament: string, token: string, since: number | null): string {
	const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
	const query = new URLSearchParams({ tournament, token });
	if (since !== null) query.set('since', String(since));
	return `${scheme}://${location.host}/ws?${query}`;
}

/** Why leaf would refuse this token for this tournament, in words for a TD; null if it would not (or is unreachable). */
export async function refusal(tournament: string, token: string): Promise<string | null> {
	try {
		await api(`/tournaments/${encodeURIComponent(tournament)}`, { token, timeoutMs: 5_000 });
		return null;
	} catch (e) {
		if (!(e instanceof ApiError)) return null;
		switch (e.status) {
			case 400:
			case 404:
				return 'There is no such tournament on this leaf.';
			case 401:
				return LINK_ENDED.unknown;
			case 403:
				return 'This link is for another tournament.';
			default:
				return null;
		}
	}
}
