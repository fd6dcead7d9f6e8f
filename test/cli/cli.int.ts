/** The netplumb command as a user types it. */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { Engine } from '../../lib';
import { native } from '../../lib/binding';
import { Cleanup, ROOT, requireSandbox, run, sleep, waitFor } from '../helpers';

const CLI = path.join(ROOT, 'dist', 'lib', 'cli', 'main.js');
let counter = 0;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(stateDir: string, args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      // No upstream resolvers: names the networks do not know fail at once.
      [CLI, '--state-dir', stateDir, '--resolv-conf', '/dev/null', ...args],
      { encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** The address `getent hosts NAME` gives in a sandbox, or undefined. */
async function inNsLookup(sandbox: string, name: string): Promise<string | undefined> {
  const r = await run('ip', ['netns', 'exec', sandbox, 'getent', 'hosts', name]).catch(
    () => undefined,
  );
  return r?.stdout.trim().split(/\s+/)[0];
}

/** The namespaces of runs without --name (a run that failed leaves none). */
async function runNetns(): Promise<string[]> {
  return (await readdir('/run/netns')).filter((n) => n.startsWith('run-'));
}

/** Ends a process a failed test may have left behind (and that keeps mocha waiting). */
function killLeftover(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
  return Promise.resolve();
}

/** A process's output so far, and a wait for a pattern in it that fails if the process exits first. */
/** Children of watchOutput still running: ended after each test, also when it failed. */
const running = new Set<ChildProcess>();

function watchOutput(child: ChildProcess): {
  text: () => string;
  until: (re: RegExp) => Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
} {
  let text = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    text += d.toString();
    for (const w of waiters) w();
  });
  running.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  const until = (re: RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (re.test(text)) {
          waiters.delete(check);
          resolve();
        }
      };
      waiters.add(check);
      check();
      void exited.then((how) => {
        if (waiters.delete(check))
          reject(new Error(`exited (${JSON.stringify(how)}) before ${re}; output: ${text}`));
      });
    });
  return { text: () => text, until, exited };
}

describe('netplumb CLI', function () {
  this.timeout(60_000);
  before(requireSandbox);
  const cleanup = new Cleanup();
  let state: string;
  /** The CLI on this test's state directory, as a child to watch and signal. */
  const spawnCli = (args: string[], opts: SpawnOptions): ChildProcess =>
    spawn(process.execPath, [CLI, '--state-dir', state, ...args], opts);
  beforeEach(() => {
    state = `/run/np-cli-${process.pid}-${++counter}`;
    cleanup.add('clean up after the CLI', async () => {
      const left = JSON.parse((await cli(state, ['sandbox', 'ls', '--json'])).stdout || '[]') as {
        name: string;
      }[];
      for (const s of left) await cli(state, ['sandbox', 'rm', s.name]);
      const nets = JSON.parse((await cli(state, ['network', 'ls', '--json'])).stdout || '[]') as {
        name: string;
      }[];
      for (const n of nets) await cli(state, ['network', 'rm', n.name]);
      await cli(state, ['prune']);
      await run('rm', ['-rf', state]);
    });
  });
  afterEach(async () => {
    for (const child of running) child.kill('SIGKILL');
    running.clear();
    await cleanup.run();
  });

  it('network create/ls/inspect/rm, sandbox create/ls/inspect/rm, as tables and --json', async () => {
    const c = await cli(state, [
      'network',
      'create',
      'capp',
      '--subnet',
      '10.120.0.0/24',
      '--mtu',
      '1400',
      '--label',
      'team=x',
    ]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, 'capp\n');
    const ls = await cli(state, ['network', 'ls']);
    assert.match(ls.stdout, /^NAME\s+ID\s+BRIDGE\s+SUBNET\s+GATEWAY\s+MTU\s+FLAGS\s+SANDBOXES$/m);
    assert.match(
      ls.stdout,
      /^capp\s+[0-9a-f]{12}\s+np-[0-9a-f]{8}\s+10\.120\.0\.0\/24\s+10\.120\.0\.1\s+1400\s+-\s+0$/m,
    );
    const inspect = JSON.parse((await cli(state, ['network', 'inspect', 'capp'])).stdout) as {
      labels: Record<string, string>;
      mtu: number;
    };
    assert.deepEqual(inspect.labels, { team: 'x' });
    assert.equal(inspect.mtu, 1400);
    assert.equal(
      (
        await cli(state, [
          'sandbox',
          'create',
          'cweb',
          '--net',
          'capp',
          '-p',
          '8800:80',
          '--alias',
          'front',
          '--hostname',
          'web1',
        ])
      ).code,
      0,
    );
    const sls = await cli(state, ['sandbox', 'ls']);
    assert.match(sls.stdout, /^cweb\s+bridge\s+capp\s+10\.120\.0\.2\s+0\.0\.0\.0:8800->80\/tcp$/m);
    const sjson = JSON.parse((await cli(state, ['sandbox', 'ls', '--json'])).stdout) as {
      name: string;
      hostname: string;
      endpoints: { aliases: string[] }[];
    }[];
    assert.equal(sjson[0]!.hostname, 'web1');
    assert.deepEqual(sjson[0]!.endpoints[0]!.aliases, ['front']);
    assert.equal(
      (await run('ip', ['netns', 'exec', 'cweb', 'cat', '/etc/hostname'])).stdout.trim(),
      'web1',
    );
    assert.equal((await cli(state, ['network', 'rm', 'capp'])).code, 1, 'refused while in use');
    assert.equal((await cli(state, ['sandbox', 'rm', 'cweb'])).stdout, 'cweb\n');
    assert.equal((await cli(state, ['network', 'rm', 'capp'])).code, 0);
    assert.deepEqual(JSON.parse((await cli(state, ['network', 'ls', '--json'])).stdout), []);
  });

  it('errors go to stderr with a non-zero exit and no stack trace (unless --debug)', async () => {
    const bad = await cli(state, ['network', 'create', 'bad/name']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /^netplumb: name: "bad\/name" is not a valid name/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);
    const missing = await cli(state, ['sandbox', 'rm', 'nosuch']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /sandbox "nosuch" not found/);
    const debug = await cli(state, ['--debug', 'sandbox', 'rm', 'nosuch']);
    assert.match(debug.stderr, /\n\s+at /);
    const usage = await cli(state, ['network', 'frobnicate']);
    assert.notEqual(usage.code, 0);
  });

  it('a reader that closes the pipe early (| head) gets no stack trace; the command still does its work', async () => {
    const closed = async (args: string[]): Promise<{ code: number | null; stderr: string }> => {
      const child = spawnCli(args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.destroy(); // before the CLI has started, let alone written
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
      return { code, stderr };
    };
    const made = await closed(['network', 'create', 'cpipe', '--subnet', '10.125.0.0/24']);
    assert.deepEqual(made, { code: 0, stderr: '' });
    const listed = await closed(['network', 'ls']);
    assert.deepEqual(listed, { code: 0, stderr: '' });
    const ls = await cli(state, ['network', 'ls', '--json']);
    assert.ok(
      (JSON.parse(ls.stdout) as { name: string }[]).some((n) => n.name === 'cpipe'),
      ls.stdout,
    );
  });

  it('--ip and --alias on the default network are refused, as Docker does, and nothing is made', async () => {
    const ip = await cli(state, ['sandbox', 'create', 'cdef', '--ip', '172.17.0.50']);
    assert.equal(ip.code, 1);
    assert.match(
      ip.stderr,
      /^netplumb: ip: user specified IP address is supported on user defined networks only/,
    );
    const alias = await cli(state, [
      'sandbox',
      'create',
      'cdef',
      '--net',
      'bridge',
      '--alias',
      'a',
    ]);
    assert.equal(alias.code, 1);
    assert.match(
      alias.stderr,
      /^netplumb: aliases: network-scoped alias is supported only for containers in user defined networks/,
    );
    assert.deepEqual(JSON.parse((await cli(state, ['sandbox', 'ls', '--json'])).stdout), []);
    assert.equal((await cli(state, ['network', 'create', 'cdnet'])).code, 0);
    assert.equal((await cli(state, ['sandbox', 'create', 'cdef', '--net', 'cdnet'])).code, 0);
    for (const flags of [
      ['--ip', '172.17.0.50'],
      ['--alias', 'a'],
    ]) {
      const r = await cli(state, ['network', 'connect', 'bridge', 'cdef', ...flags]);
      assert.equal(r.code, 1, flags.join(' '));
      assert.match(r.stderr, /user defined networks/);
    }
  });

  it("connect and disconnect by Docker's argument order; DNS through the resolver daemon", async () => {
    await cli(state, ['network', 'create', 'cn1', '--subnet', '10.121.0.0/24']);
    await cli(state, ['network', 'create', 'cn2', '--subnet', '10.122.0.0/24']);
    await cli(state, ['sandbox', 'create', 'ca', '--net', 'cn1']);
    await cli(state, ['sandbox', 'create', 'cb', '--net', 'cn2', '--alias', 'bee']);
    assert.equal((await cli(state, ['network', 'connect', 'cn2', 'ca', '--alias', 'aye'])).code, 0);
    const b = (await run('ip', ['netns', 'exec', 'ca', 'getent', 'hosts', 'bee'])).stdout;
    assert.match(b, /^10\.122\.0\.2\s+bee$/m, 'the daemon answers for the new network at once');
    assert.equal((await cli(state, ['network', 'disconnect', 'cn2', 'ca'])).code, 0);
    await assert.rejects(run('ip', ['netns', 'exec', 'ca', 'getent', 'hosts', 'bee']));
    const pid = Number((await run('cat', [`${state}/dns.pid`])).stdout);
    assert.ok(pid > 0);
    for (const s of ['ca', 'cb']) await cli(state, ['sandbox', 'rm', s]);
    for (const n of ['cn1', 'cn2']) await cli(state, ['network', 'rm', n]);
    await waitFor(
      'the resolver daemon to leave once no network needs it',
      () => !existsSync(`/proc/${pid}`),
      8000,
    );
  });

  it('every sandbox a command made or removed is answered for by the daemon when the command returns', async () => {
    await cli(state, ['network', 'create', 'cn3', '--subnet', '10.123.0.0/24']);
    await cli(state, ['sandbox', 'create', 'asker', '--net', 'cn3']);
    const lookup = async (name: string): Promise<string | undefined> =>
      (
        await run('ip', ['netns', 'exec', 'asker', 'getent', 'hosts', name]).catch(() => undefined)
      )?.stdout
        .trim()
        .split(/\s+/)[0];
    // The daemon reads only the records its watchers saw change: those
    // writes must have reached its view before it acknowledges a command.
    for (let i = 0; i < 15; i++) {
      const made = await cli(state, ['sandbox', 'create', `dyn${i}`, '--net', 'cn3']);
      assert.equal(made.code, 0, made.stderr);
      // Its address, from the kernel (another CLI command would give the daemon time).
      const ip = (
        JSON.parse(
          (await run('ip', ['-j', '-n', `dyn${i}`, '-4', 'addr', 'show', 'eth0'])).stdout,
        ) as {
          addr_info: { local: string }[];
        }[]
      )[0]!.addr_info[0]!.local;
      assert.equal(await lookup(`dyn${i}`), ip, `dyn${i} answered once created`);
      assert.equal((await cli(state, ['sandbox', 'rm', `dyn${i}`])).code, 0);
      assert.equal(await lookup(`dyn${i}`), undefined, `dyn${i} gone once removed`);
    }
  });

  it('sandbox rm and network rm try every name, report each failure and exit 1 if any failed', async () => {
    await cli(state, ['network', 'create', 'crm1', '--subnet', '10.127.0.0/24']);
    await cli(state, ['network', 'create', 'crm2', '--subnet', '10.127.1.0/24']);
    await cli(state, ['network', 'create', 'crm3', '--subnet', '10.127.2.0/24']);
    for (const s of ['rasker', 'ra', 'rb'])
      assert.equal((await cli(state, ['sandbox', 'create', s, '--net', 'crm1'])).code, 0);
    assert.ok(await inNsLookup('rasker', 'rb'), 'rb resolves before');
    const rm = await cli(state, ['sandbox', 'rm', 'ra', 'nosuch', 'rb', 'nosuch2']);
    assert.equal(rm.code, 1);
    assert.equal(rm.stdout, 'ra\nrb\n');
    assert.match(rm.stderr, /^netplumb: sandbox "nosuch" not found$/m);
    assert.match(rm.stderr, /^netplumb: sandbox "nosuch2" not found$/m);
    assert.doesNotMatch(rm.stderr, /\n\s+at /);
    const left = JSON.parse((await cli(state, ['sandbox', 'ls', '--json'])).stdout) as {
      name: string;
    }[];
    assert.deepEqual(
      left.map((s) => s.name),
      ['rasker'],
    );
    assert.equal(await inNsLookup('rasker', 'rb'), undefined, 'the daemon forgot rb at once');
    const nrm = await cli(state, ['network', 'rm', 'crm2', 'crm1', 'nosuch', 'crm3']);
    assert.equal(nrm.code, 1);
    assert.equal(nrm.stdout, 'crm2\ncrm3\n');
    assert.match(nrm.stderr, /crm1/, 'refused while in use');
    assert.match(nrm.stderr, /network "nosuch" not found/);
    assert.deepEqual(
      (
        JSON.parse((await cli(state, ['network', 'ls', '--json'])).stdout) as { name: string }[]
      ).map((n) => n.name),
      ['crm1'],
    );
    const ok = await cli(state, ['sandbox', 'rm', 'rasker']);
    assert.deepEqual([ok.code, ok.stdout, ok.stderr], [0, 'rasker\n', '']);
  });

  it('concurrent commands on a DNS network: every sandbox made resolves by name when its command returns', async () => {
    await cli(state, ['network', 'create', 'cconc', '--subnet', '10.129.0.0/24']);
    await cli(state, ['sandbox', 'create', 'casker', '--net', 'cconc']);
    for (let round = 0; round < 3; round++) {
      const names = Array.from({ length: 8 }, (_, i) => `cc${round}x${i}`);
      const made = await Promise.all([
        ...names.map(async (n) => {
          const r = await cli(state, ['sandbox', 'create', n, '--net', 'cconc']);
          assert.equal(r.code, 0, r.stderr);
          // Looked up as soon as its own command returns, others still running.
          return [n, await inNsLookup('casker', n)] as const;
        }),
        ...names.map(async () => {
          const r = await cli(state, ['network', 'ls']);
          assert.equal(r.code, 0, r.stderr);
          return ['ls', 'ok'] as const;
        }),
      ]);
      for (const [n, ip] of made) assert.ok(ip, `${n} did not resolve when its command returned`);
    }
  });

  it('the resolver daemon never writes again into a state directory being removed, and prune returns once it has exited', async () => {
    await cli(state, ['network', 'create', 'cd1', '--subnet', '10.124.0.0/24']);
    const pid = Number((await run('cat', [`${state}/dns.pid`])).stdout);
    assert.ok(pid > 0 && existsSync(`/proc/${pid}`), 'a daemon serves the network');
    // `rm -r` of the directory may remove the acknowledgement before the
    // request: the daemon must not answer the same request again.
    await run('rm', [`${state}/dns.ack`]);
    await sleep(300);
    assert.equal(existsSync(`${state}/dns.ack`), false, 'dns.ack written again');
    await cli(state, ['network', 'rm', 'cd1']);
    const prune = JSON.parse((await cli(state, ['prune', '--json'])).stdout) as {
      daemons?: number;
    };
    assert.equal(prune.daemons, 1, 'prune stopped the idle daemon');
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    assert.equal(cmdline, '', 'the daemon is gone when prune returns');
  });

  it("run: the command runs inside with the sandbox's files, its exit status comes back, the sandbox goes", async () => {
    await cli(state, ['network', 'create', 'crun', '--subnet', '10.123.0.0/24']);
    const r = await cli(state, [
      'run',
      '--net',
      'crun',
      '--name',
      'cr1',
      '--hostname',
      'inside',
      '--',
      'sh',
      '-c',
      'cat /etc/hostname; ip -4 -br addr show dev eth0; exit 7',
    ]);
    assert.equal(r.code, 7);
    assert.match(r.stdout, /^inside$/m);
    assert.match(r.stdout, /eth0@\S+\s+UP\s+10\.123\.0\.\d+\/24/);
    assert.deepEqual(JSON.parse((await cli(state, ['sandbox', 'ls', '--json'])).stdout), []);
    assert.ok(!existsSync('/run/netns/cr1'));
  });

  it("run: Docker's exit codes (125 netplumb failed, 126 cannot invoke, 127 not found, 128+N a signal), one-line errors", async () => {
    await run('mkdir', ['-p', state]);
    const notExecutable = path.join(state, 'not-executable');
    await writeFile(notExecutable, 'echo hi\n', { mode: 0o644 });
    const cases: [string[], number, RegExp | undefined][] = [
      [['run', '--bogus', '--', 'true'], 125, /unknown option '--bogus'/],
      [['run', '--net', 'nosuch', '--', 'true'], 125, /network "nosuch" not found/],
      [['run', '-p', '99999:80', '--', 'true'], 125, /publish/],
      [['run', '--net', 'host', '--', '/nonexistent'], 127, /\/nonexistent.*not found/],
      [['run', '--net', 'none', '--', 'no-such-command-here'], 127, /no-such-command-here/],
      [['run', '--net', 'host', '--', notExecutable], 126, /permission denied/],
      [['run', '--net', 'none', '--', notExecutable], 126, /permission denied/],
      [['run', '--net', 'none', '--', 'sh', '-c', 'kill -USR1 $$'], 128 + 10, undefined],
      [['run', '--net', 'host', '--', 'sh', '-c', 'kill -PIPE $$'], 128 + 13, undefined],
      [['run', '--net', 'none', '--', 'sh', '-c', 'exit 125'], 125, undefined],
    ];
    for (const [args, code, message] of cases) {
      const r = await cli(state, args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      if (message) {
        assert.match(r.stderr, message, args.join(' '));
        assert.doesNotMatch(r.stderr, /\n\s+at /, `${args.join(' ')}: no stack trace`);
      }
    }
    assert.deepEqual(JSON.parse((await cli(state, ['sandbox', 'ls', '--json'])).stdout), []);
    assert.deepEqual(await runNetns(), []);
    const help = await cli(state, ['run', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /125/);
    assert.match(help.stdout, /127/);
  });

  it('run: a failed creation leaves an existing sandbox of the same name alone', async () => {
    await cli(state, ['network', 'create', 'ckeep', '--subnet', '10.125.0.0/24']);
    assert.equal((await cli(state, ['sandbox', 'create', 'keep', '--net', 'ckeep'])).code, 0);
    const taken = await cli(state, ['run', '--net', 'ckeep', '--name', 'keep', '--', 'true']);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /sandbox "keep" already exists/);
    const noNet = await cli(state, ['run', '--net', 'nosuch', '--name', 'keep', '--', 'true']);
    assert.notEqual(noNet.code, 0);
    assert.match(noNet.stderr, /nosuch/);
    assert.deepEqual(
      (
        JSON.parse((await cli(state, ['sandbox', 'ls', '--json'])).stdout) as { name: string }[]
      ).map((s) => s.name),
      ['keep'],
    );
    assert.ok(existsSync('/run/netns/keep'), 'its namespace is still there');
  });

  it('run: SIGTERM ends the command and removes the sandbox', async () => {
    const child = spawnCli(['run', '--name', 'cr2', '--', 'sleep', '30'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        resolve(code);
      }),
    );
    await waitFor('the sandbox', () => existsSync('/run/netns/cr2'), 10_000);
    await sleep(200);
    child.kill('SIGTERM');
    assert.equal(await exited, 128 + 15);
    assert.ok(!existsSync('/run/netns/cr2'));
    assert.deepEqual(JSON.parse((await cli(state, ['sandbox', 'ls', '--json'])).stdout), []);
  });

  it('run: a signal while the sandbox is being set up ends the run and removes the sandbox', async () => {
    // A DNS network, made without a daemon; the test holds the daemon's
    // lock, so run waits for an acknowledgement nobody sends: it is then
    // past creating the sandbox and before starting COMMAND.
    const engine = await Engine.open({ stateDir: state, dns: false });
    try {
      await engine.createNetwork({ name: 'csig', subnet: '10.126.0.0/24' });
    } finally {
      await engine.close();
    }
    const lock = await native.tryLock(path.join(state, 'locks', 'dns'), true);
    assert.ok(lock, 'the resolver lock is free');
    try {
      const marker = path.join(state, 'ran');
      const child = spawnCli(['run', '--net', 'csig', '--name', 'cr5', '--', 'touch', marker], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const { exited } = watchOutput(child);
      await waitFor('the reload request', () => existsSync(path.join(state, 'dns.reload')), 10_000);
      assert.ok(existsSync('/run/netns/cr5'), 'the sandbox exists');
      child.kill('SIGTERM');
      assert.deepEqual(await exited, { code: 128 + 15, signal: null });
      assert.ok(!existsSync(marker), 'COMMAND never started');
      assert.ok(!existsSync('/run/netns/cr5'));
      assert.deepEqual(JSON.parse((await cli(state, ['sandbox', 'ls', '--json'])).stdout), []);
    } finally {
      lock.release();
    }
  });

  it('run: a second signal while the sandbox is being removed does not stop the removal', async () => {
    // A process left behind in the namespace holds it: the removal then
    // waits (up to a second) for the veth to go, which is when we signal.
    const child = spawnCli(
      ['run', '--name', 'cr6', '--', 'sh', '-c', 'sleep 1000 & echo "sleeper $!"; wait'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const out = watchOutput(child);
    await out.until(/sleeper \d+/);
    const sleeper = Number(/sleeper (\d+)/.exec(out.text())![1]);
    cleanup.add('stop the sleeper', () => killLeftover(sleeper));
    child.kill('SIGTERM');
    await waitFor('the namespace to be unmounted', () => !existsSync('/run/netns/cr6'), 10_000);
    child.kill('SIGTERM');
    child.kill('SIGINT');
    process.kill(sleeper, 'SIGKILL');
    assert.deepEqual(await out.exited, { code: 128 + 15, signal: null });
    assert.deepEqual(JSON.parse((await cli(state, ['sandbox', 'ls', '--json'])).stdout), []);
  });

  it('run: HUP, QUIT, USR1, USR2 (and INT, TERM) are passed on to COMMAND', async () => {
    const script = [
      'for s in HUP QUIT USR1 USR2 INT; do trap "echo got-$s" $s; done',
      'trap "echo got-TERM; exit 3" TERM',
      'echo "ready $$"',
      'while :; do sleep 0.05; done',
    ].join('\n');
    const child = spawnCli(['run', '--net', 'none', '--name', 'cr7', '--', 'sh', '-c', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const out = watchOutput(child);
    await out.until(/^ready \d+$/m);
    const commandPid = Number(/^ready (\d+)$/m.exec(out.text())![1]);
    cleanup.add('stop COMMAND', () => killLeftover(commandPid));
    for (const sig of ['SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGINT'] as const) {
      child.kill(sig);
      await out.until(new RegExp(`^got-${sig.slice(3)}$`, 'm'));
    }
    child.kill('SIGTERM');
    assert.deepEqual(await out.exited, { code: 3, signal: null });
    assert.match(out.text(), /^got-TERM$/m);
    assert.ok(!existsSync('/run/netns/cr7'));
  });

  it('run at a terminal: Ctrl-C reaches COMMAND once (from the terminal; run does not pass it on again)', async () => {
    // script(1) gives run a terminal; ^C written to it is the terminal's
    // SIGINT to its foreground process group: run and COMMAND. COMMAND
    // counts every delivery (node's handler runs once per signal received).
    const childScript = path.join(state, 'child.js');
    await run('mkdir', ['-p', state]);
    await writeFile(
      childScript,
      [
        "process.on('SIGINT', () => console.log('INT'));",
        "process.on('SIGTERM', () => { console.log('TERM'); process.exit(0); });",
        "console.log('ready ' + process.pid + ' ' + process.ppid);",
        'setInterval(() => undefined, 1000);',
      ].join('\n'),
    );
    // `exec`: script(1) starts $SHELL -c (dash when SHELL is unset, as in
    // CI), and dash does not exec a lone command: it would stand between the
    // terminal and run, and die of the ^C itself (script then exits 130).
    const cmd = [
      'exec',
      process.execPath,
      CLI,
      '--state-dir',
      state,
      'run',
      '--net',
      'none',
      '--name',
      'cr8',
      '--',
      process.execPath,
      childScript,
    ].join(' ');
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const out = watchOutput(child);
    await out.until(/ready \d+ \d+/);
    // COMMAND runs under `ip netns exec`, which execs it: its parent is run.
    const ready = /ready (\d+) (\d+)/.exec(out.text())!;
    const commandPid = Number(ready[1]);
    const runPid = Number(ready[2]);
    cleanup.add('stop COMMAND', () => killLeftover(commandPid));
    child.stdin.write('\x03');
    await out.until(/INT\r?$/m); // after the echoed ^C
    process.kill(runPid, 'SIGTERM');
    assert.deepEqual(await out.exited, { code: 0, signal: null });
    assert.equal(out.text().match(/INT\r?$/gm)?.length, 1, out.text());
    assert.match(out.text(), /^TERM\r?$/m);
    assert.ok(!existsSync('/run/netns/cr8'));
  });

  it('prune after a killed CLI process leaves nothing', async () => {
    await cli(state, ['network', 'create', 'cpr', '--subnet', '10.124.0.0/24']);
    const child = spawnCli(
      ['run', '--net', 'cpr', '--name', 'cr3', '-p', '8900:80', '--', 'sleep', '30'],
      { stdio: 'ignore' },
    );
    // Killed once the sandbox is complete (a kill mid-creation is the crash test's business).
    await waitFor(
      'the sandbox',
      async () => (await cli(state, ['sandbox', 'ls'])).stdout.includes('cr3'),
      10_000,
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The sandbox is still there (nobody removed it): prune keeps what is whole.
    const kept = await cli(state, ['prune', '--json']);
    assert.equal(kept.code, 0, kept.stderr);
    assert.deepEqual(
      (
        JSON.parse((await cli(state, ['sandbox', 'ls', '--json'])).stdout) as { name: string }[]
      ).map((s) => s.name),
      ['cr3'],
    );
    // A broken one (namespace gone behind our back) is finished off.
    await run('ip', ['netns', 'del', 'cr3']);
    const r = JSON.parse((await cli(state, ['prune', '--json'])).stdout) as { sandboxes: string[] };
    assert.deepEqual(r.sandboxes, ['cr3']);
    assert.deepEqual(JSON.parse((await cli(state, ['sandbox', 'ls', '--json'])).stdout), []);
    assert.doesNotMatch((await run('nft', ['list', 'ruleset'])).stdout, /8900/);
  });

  it('demo --inside refuses to mount over /run and /sys in the network namespace of PID 1', async () => {
    // In a PID namespace of its own, the CLI is PID 1 and shares its
    // network namespace (a fresh one here, so nothing is at stake if it
    // went ahead, as it did before: it ran the whole demo).
    const r = await new Promise<Result>((resolve) => {
      execFile(
        'unshare',
        [
          '--pid',
          '--fork',
          '--mount-proc',
          '--net',
          '--',
          process.execPath,
          CLI,
          'demo',
          '--inside',
        ],
        { encoding: 'utf8', timeout: 60_000 },
        (err, stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        },
      );
    });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /^netplumb: .*refusing .*not in a private network namespace \(it is PID 1's\)/,
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(r.stdout, '');
  });

  it('npm start (netplumb demo) builds, shows and removes everything, in a namespace of its own', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'demo'], { timeout: 60_000 });
    assert.match(stdout, /from db: getent hosts web frontend[\s\S]*10\.89\.0\.2\s+web/);
    assert.match(stdout, /from db: GET http:\/\/web\/\nhello from web \(10\.89\.0\.3 asked\)/);
    assert.match(
      stdout,
      /from the host: GET http:\/\/127\.0\.0\.1:8080\/ \(the published port\)\nhello from web/,
    );
    assert.match(stdout, /nft tables now: \(none\)/);
  });
});
