// A real leaf for the browser tests: its own data dir, a TD account, a free port, and the
// pinned nats-server as its child. Restartable on the same port and data.

import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
const RESULTS = resolve(import.meta.dirname, '..', 'test-results');

/** Every leaf still running, for the exit hook: a killed test run leaves no server behind. */
const running = new Set();
process.on('exit', () => {
	for (const child of running) child.kill('SIGKILL');
});

export const TD = { name: 'e2e-td', pin: 'e2e-pin-4821' };

function freePort() {
	return new Promise((ok, fail) => {
		const server = createServer();
		server.on('error', fail);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address();
			server.close(() => ok(port));
		});
	});
}

export class Leaf {
	constructor() {
		this.bin = process.env.LEAF_BIN ?? join(ROOT, 'target', 'debug', 'leaf');
		this.natsServer = process.env.LEAF_NATS_SERVER ?? join(ROOT, '.tools', 'venv', 'bin', 'nats-server');
		this.dir = mkdtempSync(join(tmpdir(), 'leaf-e2e-'));
		this.data = join(this.dir, 'data');
		this.child = null;
	}

	async init() {
		const add = spawnSync(this.bin, ['--data-dir', this.data, 'td', 'add', TD.name], {
			input: `${TD.pin}\n`,
			encoding: 'utf8'
		});
		if (add.status !== 0) {
			throw new Error(`leaf td add failed (is ${this.bin} built?): ${add.error ?? add.stderr}`);
		}
		this.port = await freePort();
		this.base = `http://127.0.0.1:${this.port}`;
		await this.start();
	}

	async start() {
		const log = openSync(join(this.dir, 'leaf.log'), 'a');
		this.child = spawn(
			this.bin,
			['--data-dir', this.data, '--addr', `127.0.0.1:${this.port}`, '--nats-server', this.natsServer],
			{ stdio: ['ignore', log, log], env: { ...process.env, RUST_LOG: 'info' } }
		);
		const child = this.child;
		running.add(child);
		const exited = new Promise((ok) =>
			child.once('exit', (code) => {
				running.delete(child);
				ok(code);
			})
		);
		this.exited = exited;
		const deadline = Date.now() + 30_000;
		while (Date.now() < deadline) {
			const code = await Promise.race([exited, new Promise((ok) => setTimeout(() => ok(undefined), 100))]);
			if (code !== undefined) throw new Error(`leaf exited with ${code}; see frontend/test-results/leaf.log`);
			try {
				// leaf listens before its log is up: a request may wait, but not for long.
				const health = await fetch(`${this.base}/api/v1/health`, { signal: AbortSignal.timeout(1_000) });
				if (health.ok) return;
			} catch {
				// not listening yet
			}
		}
		throw new Error('leaf did not become healthy; see frontend/test-results/leaf.log');
	}

	/** An orderly stop (SIGTERM), as when a TD restarts the box's service. */
	async stop() {
		if (!this.child) return;
		this.child.kill('SIGTERM');
		const code = await Promise.race([this.exited, new Promise((ok) => setTimeout(() => ok('timeout'), 15_000))]);
		if (code === 'timeout') {
			// leaf's nats-server child dies with it (PR_SET_PDEATHSIG).
			this.child.kill('SIGKILL');
			await this.exited;
		}
		this.child = null;
	}

	/** Stops leaf and removes its data; its log stays in test-results/ for a failure's story. */
	async cleanup() {
		await this.stop();
		const log = join(this.dir, 'leaf.log');
		if (existsSync(log)) {
			mkdirSync(RESULTS, { recursive: true });
			copyFileSync(log, join(RESULTS, 'leaf.log'));
		}
		rmSync(this.dir, { recursive: true, force: true });
	}

	/** The API as the TD, for the steps a test does not do through the browser. */
	async api(path, { method = 'GET', token, body } = {}) {
		const headers = { 'Content-Type': 'application/json' };
		if (token) headers.Authorization = `Bearer ${token}`;
		const response = await fetch(`${this.base}/api/v1${path}`, {
			method,
			headers,
			body: body === undefined ? undefined : JSON.stringify(body)
		});
		const value = await response.json().catch(() => null);
		if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(value)}`);
		return value;
	}

	async login() {
		const { token } = await this.api('/auth/login', { method: 'POST', body: TD });
		return token;
	}
}
