import { describe, expect, it } from 'vitest';
import {
	isFinal,
	label,
	newestFirst,
	parse,
	summary,
	tokenEnd,
	type TournamentEvent
} from './protocol';

describe('protocol', () => {
	it('reads known messages and rejects the rest', () => {
		expect(parse('{"type":"pong"}')).toEqual({ type: 'pong' });
		expect(parse('{"type":"event","seq":3,"event":{"type":"x","data":{}}}')).toMatchObject({ seq: 3 });
		expect(parse('{"type":"event","seq":3}')).toBeNull();
		expect(parse('{"type":"event","seq":"3"}')).toBeNull();
		expect(parse('{"type":"other"}')).toBeNull();
		expect(parse('[1,2]')).toBeNull();
		expect(parse('nope')).toBeNull();
		expect(parse(new ArrayBuffer(2))).toBeNull();
	});

	it('names the token ends among the final close codes, and only them', () => {
		expect(tokenEnd(4501)).toBe('revoked');
		expect(tokenEnd(4502)).toBe('expired');
		expect(isFinal(4501) && isFinal(4502)).toBe(true);
		for (const code of [1000, 1001, 1006, 4008, 4010, 4500, 4503]) {
			expect(tokenEnd(code)).toBeNull();
		}
	});

	it('labels and summarises events for people', () => {
		expect(label('level_up')).toBe('Level up');
		expect(label('player-out')).toBe('Player out');
		expect(summary({ level: 5, blinds: '200/400' })).toBe('Level: 5 · Blinds: 200/400');
		expect(summary({ seats: [1, 2] })).toBe('Seats: [1,2]');
		expect(summary(null)).toBe('');
		expect(summary('x')).toBe('x');
	});

	it('keeps recent events newest first, once each', () => {
		const e = (seq: number): TournamentEvent => ({ seq, ts: '', type: 't', data: {} });
		const merged = newestFirst([e(5), e(3), e(4), e(5), e(2)], 3);
		expect(merged.map((x) => x.seq)).toEqual([5, 4, 3]);
	});
});
