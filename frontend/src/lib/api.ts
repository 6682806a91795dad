// leaf's HTTP API (`/api/v1`, described at /api/v1/openapi.json), typed for the app.

import { LINK_ENDED } from './ended';

export class ApiError extends Error {
	constructor(
		readonly status: number,
		message: string,
		readonly code?: string
	) {
		super(message);
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
		throw new ApiError(
			response.status,
			error?.message ?? `leaf answered ${response.status}`,
			error?.code
		);
	}
	return value as T;
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
