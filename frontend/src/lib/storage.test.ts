import { expect, it } from 'vitest';
import { storageNotice } from './storage';

const health = (storage: unknown) => ({ status: 'ok', subsystems: { storage } });

it('says nothing while the store has room', () => {
	expect(storageNotice(health({ state: 'ok' }))).toBeNull();
	expect(storageNotice({ status: 'ok' })).toBeNull();
	expect(storageNotice(null)).toBeNull();
	expect(storageNotice('not json')).toBeNull();
});

it("shows leaf's own words for a warning and for a full store", () => {
	expect(storageNotice(health({ state: 'warning', message: 'the event log is 85% full' }))).toEqual({
		level: 'warning',
		message: 'the event log is 85% full'
	});
	expect(storageNotice(health({ state: 'full' }))).toEqual({
		level: 'full',
		message: 'The event log is full: new events are refused.'
	});
});
