import adapter from '@sveltejs/adapter-static';

/** @type {import('@sveltejs/kit').Config} */
export default {
	kit: {
		// leaf serves index.html for every path that is not /api or /ws, so one page is enough.
		adapter: adapter({ fallback: 'index.html', strict: false }),
		// Screens run for days: a deploy must not leave an old tab fetching chunks that are gone.
		version: { pollInterval: 0 }
	}
};
