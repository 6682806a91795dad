import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveTournament, type SocketLike, type Status } from './live';
import type { TournamentEvent } from './protocol';

class FakeSocket implements SocketLike {
	onopen: SocketLike['onopen'] = null;
	onmessage: SocketLike['onmessage'] = null;
	onclose: SocketLike['onclose'] = null;
	onerror: SocketLike['onerror'] = null;
	sent: string[] = [];
	closedWith: number | null = null;
	constructor(readonly url: string) {}
	send(data: string) {
		this.sent.push(data);
	}
	close(code = 1000) {
		this.closedWith = code;
	}
	// What leaf does:
	open() {
		this.onopen?.({});
		this.message({ type: 'connected', protocol: 1, server_id: 's', ping_interval_ms: 10_000 });
	}
	message(value: unknown) {
		this.onmessage?.({ data: JSON.stringify(value) });
	}
	event(seq: number, type = 'level_up') {
		this.message({
			type: 'event',
			tournament_id: 't',
			seq,
			ts: '2026-11-30T20:00:00Z',
			event: { type, data: { n: seq } }
		});
	}
	drop(code = 1006, reason = '') {
		this.onclose?.({ code, reason });
	}
}

function setup(options: { diagnose?: () => Promise<string | null> } = {}) {
	const sockets: FakeSocket[] = [];
	const events: TournamentEvent[] = [];
	const snapshots: number[] = [];
	const statuses: Status[] = [];
	const live = new LiveTournament(
		{
			url: (since) => (since === null ? 'ws://leaf/ws' : `ws://leaf/ws?since=${since}`),
			connect: (url) => {
				const socket = new FakeSocket(url);
				sockets.push(socket);
				return socket;
			},
			random: () => 0.5,
			diagnose: options.diagnose
		},
		{
			event: (e) => events.push(e),
			snapshot: (seq) => snapshots.push(seq),
			status: (s) => statuses.push(s)
		}
	);
	const last = () => sockets[sockets.length - 1];
	return { live, sockets, events, snapshots, statuses, last };
}

beforeEach(() => {
	vi.useFakeTimers();
});
afterEach(() => {
	vi.useRealTimers();
});

describe('LiveTournament', () => {
	it('applies the snapshot, then events in order', () => {
		const t = setup();
		t.live.start();
		t.last().open();
		t.last().message({ type: 'snapshot', tournament_id: 't', seq: 4, state: {} });
		t.last().event(5);
		t.last().event(6);
		expect(t.snapshots).toEqual([4]);
		expect(t.events.map((e) => e.seq)).toEqual([5, 6]);
		expect(t.live.seq).toBe(6);
		expect(t.statuses.at(-1)).toEqual({ kind: 'live' });
	});

	it('reconnects after a drop with since = the last seq, backing off', async () => {
		const t = setup();
		t.live.start();
		t.last().open();
		t.last().message({ type: 'snapshot', tournament_id: 't', seq: 2, state: {} });
		t.last().event(3);
		t.last().drop(1001);
		expect(t.statuses.at(-1)).toMatchObject({ kind: 'reconnecting', attempt: 1 });
		await vi.advanceTimersByTimeAsync(999);
		expect(t.sockets).toHaveLength(1);
		await vi.advanceTimersByTimeAsync(1);
		expect(t.sockets).toHaveLength(2);
		expect(t.last().url).toBe('ws://leaf/ws?since=3');
		// A second failure before it opens waits twice as long.
		t.last().drop();
		await vi.advanceTimersByTimeAsync(1999);
		expect(t.sockets).toHaveLength(2);
		await vi.advanceTimersByTimeAsync(1);
		expect(t.sockets).toHaveLength(3);
		// Once connected, the back-off starts over and the replay continues the seqs.
		t.last().open();
		t.last().event(4);
		t.last().event(5);
		expect(t.events.map((e) => e.seq)).toEqual([3, 4, 5]);
		t.last().drop();
		await vi.advanceTimersByTimeAsync(1000);
		expect(t.last().url).toBe('ws://leaf/ws?since=5');
	});

	it('never waits longer than the maximum delay', async () => {
		const t = setup();
		const delays: number[] = [];
		t.live.start();
		for (let i = 0; i < 12; i++) {
			const before = t.statuses.length;
			t.last().drop();
			const status = t.statuses[before];
			if (status?.kind !== 'reconnecting') throw new Error('not reconnecting');
			delays.push(status.at - Date.now());
			await vi.advanceTimersByTimeAsync(status.at - Date.now());
		}
		expect(delays).toHaveLength(12);
		expect(delays.slice(0, 6)).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000]);
		expect(Math.max(...delays)).toBe(30_000);
	});

	it('resumes at once on resync (4008)', async () => {
		const t = setup();
		t.live.start();
		t.last().open();
		t.last().message({ type: 'snapshot', tournament_id: 't', seq: 7, state: {} });
		t.last().drop(4008, 'resync');
		await vi.advanceTimersByTimeAsync(0);
		expect(t.sockets).toHaveLength(2);
		expect(t.last().url).toBe('ws://leaf/ws?since=7');
	});

	it('on a gap, drops the socket and resumes from the last seq held', async () => {
		const t = setup();
		t.live.start();
		t.last().open();
		t.last().message({ type: 'snapshot', tournament_id: 't', seq: 1, state: {} });
		t.last().event(2);
		const first = t.last();
		first.event(4);
		expect(first.closedWith).toBe(4000);
		expect(t.events.map((e) => e.seq)).toEqual([2]);
		await vi.advanceTimersByTimeAsync(0);
		expect(t.last().url).toBe('ws://leaf/ws?since=2');
		// The old socket's late frames are ignored.
		first.event(3);
		expect(t.events.map((e) => e.seq)).toEqual([2]);
	});

	it('ignores events it already holds', () => {
		const t = setup();
		t.live.start();
		t.last().open();
		t.last().message({ type: 'snapshot', tournament_id: 't', seq: 3, state: {} });
		t.last().event(3);
		t.last().event(4);
		t.last().event(4);
		expect(t.events.map((e) => e.seq)).toEqual([4]);
	});

	it('stops for good on a final close code', async () => {
		const t = setup();
		t.live.start();
		t.last().open();
		t.last().drop(4500, 'bad request');
		await vi.advanceTimersByTimeAsync(60_000);
		expect(t.sockets).toHaveLength(1);
		expect(t.statuses.at(-1)).toEqual({ kind: 'refused', reason: 'bad request' });
	});

	it.each([
		[4501, 'revoked'],
		[4502, 'expired']
	] as const)('ends for good, saying why, when leaf closes with %i', async (code, why) => {
		const t = setup({ diagnose: async () => 'asked, though the close code said why' });
		t.live.start();
		t.last().open();
		t.last().message({ type: 'snapshot', tournament_id: 't', seq: 3, state: {} });
		t.last().drop(code, 'from leaf');
		await vi.advanceTimersByTimeAsync(60_000);
		expect(t.sockets).toHaveLength(1);
		expect(t.statuses.at(-1)).toEqual({ kind: 'ended', why });
	});

	it.each([1000, 1001, 1006, 1011, 4000, 4010, 4011, 4499])(
		'reconnects from the last seq after close code %i',
		async (code) => {
			const t = setup();
			t.live.start();
			t.last().open();
			t.last().message({ type: 'snapshot', tournament_id: 't', seq: 3, state: {} });
			t.last().drop(code, 'from leaf');
			expect(t.statuses.at(-1)).toMatchObject({ kind: 'reconnecting', attempt: 1 });
			await vi.advanceTimersByTimeAsync(1000);
			expect(t.sockets).toHaveLength(2);
			expect(t.last().url).toBe('ws://leaf/ws?since=3');
		}
	);

	it('asks why when a connection never opened, and stops on a refusal', async () => {
		const t = setup({ diagnose: async () => 'This link is for another tournament.' });
		t.live.start();
		t.last().drop(1006);
		await vi.advanceTimersByTimeAsync(60_000);
		expect(t.sockets).toHaveLength(1);
		expect(t.statuses.at(-1)).toEqual({
			kind: 'refused',
			reason: 'This link is for another tournament.'
		});
	});

	it('keeps retrying when the diagnosis finds no refusal (leaf is down)', async () => {
		const t = setup({ diagnose: async () => null });
		t.live.start();
		t.last().drop(1006);
		await vi.advanceTimersByTimeAsync(1000);
		expect(t.sockets).toHaveLength(2);
	});

	it('pings, and treats three silent intervals as a dead connection', async () => {
		const t = setup();
		t.live.start();
		t.last().open();
		const first = t.last();
		await vi.advanceTimersByTimeAsync(10_000);
		expect(first.sent).toEqual(['{"type":"ping"}']);
		await vi.advanceTimersByTimeAsync(30_000);
		expect(first.closedWith).toBe(4000);
		await vi.advanceTimersByTimeAsync(1);
		expect(t.sockets).toHaveLength(2);
	});

	it('skips frames it cannot read without losing its place', () => {
		const t = setup();
		t.live.start();
		t.last().open();
		t.last().message({ type: 'snapshot', tournament_id: 't', seq: 1, state: {} });
		t.last().onmessage?.({ data: 'not json' });
		t.last().message({ type: 'event', seq: 'two' });
		t.last().message({ type: 'mystery' });
		t.last().event(2);
		expect(t.events.map((e) => e.seq)).toEqual([2]);
	});

	it('stop() closes and never reconnects', async () => {
		const t = setup();
		t.live.start();
		t.last().open();
		t.live.stop();
		expect(t.sockets[0].closedWith).toBe(1000);
		await vi.advanceTimersByTimeAsync(60_000);
		expect(t.sockets).toHaveLength(1);
	});

	it('backs off when leaf keeps sending gaps', async () => {
		const t = setup();
		t.live.start();
		t.last().open();
		t.last().message({ type: 'snapshot', tournament_id: 't', seq: 1, state: {} });
		t.last().event(3);
		await vi.advanceTimersByTimeAsync(1);
		expect(t.sockets).toHaveLength(2);
		t.last().open();
		t.last().event(3);
		// The second gap in a row waits instead of reconnecting at once.
		await vi.advanceTimersByTimeAsync(500);
		expect(t.sockets).toHaveLength(2);
		await vi.advanceTimersByTimeAsync(1000);
		expect(t.sockets).toHaveLength(3);
	});

	it('gives up on a connection that never says connected', async () => {
		const t = setup();
		t.live.start();
		const stuck = t.last();
		await vi.advanceTimersByTimeAsync(10_000);
		expect(stuck.closedWith).toBe(4000);
		await vi.advanceTimersByTimeAsync(1000);
		expect(t.sockets).toHaveLength(2);
	});

	it('a diagnosis that finishes after stop() and start() opens nothing extra', async () => {
		let answer: (refusal: string | null) => void = () => {};
		const t = setup({ diagnose: () => new Promise((ok) => (answer = ok)) });
		t.live.start();
		t.last().drop(1006);
		t.live.stop();
		t.live.start();
		expect(t.sockets).toHaveLength(2);
		answer(null);
		await vi.advanceTimersByTimeAsync(5_000);
		expect(t.sockets).toHaveLength(2);
		t.live.stop();
	});

	it('start() twice opens one connection', () => {
		const t = setup();
		t.live.start();
		t.live.start();
		expect(t.sockets).toHaveLength(1);
	});

	it('a late timer tick (a throttled background tab) is not taken for a dead link', async () => {
		const t = setup();
		t.live.start();
		t.last().open();
		// Asleep for a minute: no tick ran, then one runs late.
		vi.setSystemTime(Date.now() + 60_000);
		await vi.advanceTimersByTimeAsync(10_000);
		expect(t.sockets).toHaveLength(1);
		expect(t.last().closedWith).toBeNull();
		expect(t.last().sent).toContain('{"type":"ping"}');
	});
});
