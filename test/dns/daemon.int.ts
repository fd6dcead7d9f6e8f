/** The reload handshake between CLI commands and the resolver daemon, on real files. */
import assert from 'node:assert/strict';
import { watch } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { Engine } from '../../lib';
import { native } from '../../lib/binding';
import { ensureDaemon } from '../../lib/dns/daemon';
import { ROOT, requireSandbox } from '../helpers';

const CLI = path.join(ROOT, 'dist', 'lib', 'cli', 'main.js');

/** Replaces a file at once, as the StateStore does (readers never see half of it). */
async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

describe('resolver daemon (DNS): reload handshake', function () {
  this.timeout(30_000);
  before(requireSandbox);
  const state = `/run/np-daemon-${process.pid}`;

  afterEach(async () => {
    const engine = await Engine.open({ stateDir: state, dns: false });
    try {
      for (const n of await engine.listNetworks()) await engine.removeNetwork(n.name);
    } finally {
      await engine.close();
    }
    await rm(state, { recursive: true, force: true });
  });

  it('a request overwritten by a later one before the daemon read it is acknowledged by the answer to that one', async () => {
    const engine = await Engine.open({ stateDir: state, dns: false });
    try {
      await engine.createNetwork({ name: 'dhs', subnet: '10.128.0.0/24' });
    } finally {
      await engine.close();
    }
    // This test plays the daemon (it holds its lock, so none is started)
    // and a second command: once our command's request is in dns.reload,
    // the second one's replaces it, and only that one is answered.
    const lock = await native.tryLock(path.join(state, 'locks', 'dns'), true);
    assert.ok(lock);
    const reload = path.join(state, 'dns.reload');
    const ack = path.join(state, 'dns.ack');
    let own: string | undefined;
    const played = new Promise<void>((resolve, reject) => {
      const w = watch(state, () => {
        void readFile(reload, 'utf8').then(
          async (token) => {
            if (own !== undefined || token === '') return;
            own = token;
            w.close();
            await replace(reload, 'second-command');
            await replace(ack, 'second-command');
            resolve();
          },
          () => undefined,
        );
      });
      w.on('error', reject);
    });
    try {
      const [answered] = await Promise.all([ensureDaemon(state, CLI), played]);
      assert.ok(own, 'the command made a request');
      assert.equal(answered, true, 'the command took the answer to the later request as its own');
    } finally {
      lock.release();
    }
  });
});
