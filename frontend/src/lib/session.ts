// The signed-in TD, kept in localStorage so a console survives a reload.

const KEY = 'felt.td';

export interface Session {
	name: string;
	token: string;
	/** Seconds since the epoch. */
	expires_at: number;
}

export function load(): Session | null {
	try {
		const raw = localStorage.getItem(KEY);
		if (!raw) return null;
		const session = JSON.parse(raw) as Session;
		if (typeof session.token !== 'string' || session.expires_at * 1000 <= Date.now()) {
			localStorage.removeItem(KEY);
			return null;
		}
		return session;
	} catch {
		return null;
	}
}

export function save(session: Session): void {
	localStorage.setItem(KEY, JSON.stringify(session));
}

export function clear(): void {
	localStorage.removeItem(KEY);
}
