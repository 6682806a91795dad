// What the TD console says about the event log's room, from leaf's health report.

/** A banner for the TD, or null when the store has room. */
export interface StorageNotice {
	level: 'warning' | 'full';
	message: string;
}

/** Reads `subsystems.storage` of a health body; anything else is no notice. */
export function storageNotice(health: unknown): StorageNotice | null {
	const storage = (health as { subsystems?: { storage?: { state?: unknown; message?: unknown } } })
		?.subsystems?.storage;
	if (!storage || (storage.state !== 'warning' && storage.state !== 'full')) return null;
	const fallback =
		storage.state === 'full'
			? 'The event log is full: new events are refused.'
			: 'The event log is filling up.';
	return {
		level: storage.state,
		message: typeof storage.message === 'string' && storage.message ? storage.message : fallback
	};
}

/** Asks leaf's health (which answers 503 while the store is full, with the same body). */
export async function fetchStorageNotice(token: string): Promise<StorageNotice | null> {
	try {
		const response = await fetch('/api/v1/health', {
			headers: { Accept: 'application/json', Authorization: `Bearer ${token}` },
			signal: AbortSignal.timeout(5_000)
		});
		return storageNotice(await response.json());
	} catch {
		return null; // leaf unreachable: the connection indicator says so already
	}
}
