/** The host's resolv.conf as sandboxes get it (HostResolvConf), from files in a temporary directory. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { HostResolvConf } from '../../lib/engine/files';

describe('engine: HostResolvConf', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'np-resolv-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("Docker's IPv6 default nameservers too, for a network with IPv6", async () => {
    const file = path.join(dir, 'resolv.conf');
    await writeFile(file, 'nameserver 127.0.0.1\n');
    const r = await new HostResolvConf(file, path.join(dir, 'missing')).forSandbox(true);
    assert.equal(
      r.text,
      'nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n',
    );
    assert.match(r.warning ?? '', /2001:4860:4860::8844/);
  });

  it('a host without a resolv.conf gives an empty one, as before', async () => {
    const r = await new HostResolvConf(
      path.join(dir, 'none'),
      path.join(dir, 'none2'),
    ).forSandbox();
    assert.deepEqual(r, { text: '' });
  });
});
