import { expect, it } from 'vitest';
import { newKey } from './key';

it('makes distinct version-4 UUIDs', () => {
	const keys = new Set(Array.from({ length: 100 }, newKey));
	expect(keys.size).toBe(100);
	for (const key of keys) {
		expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
	}
});
