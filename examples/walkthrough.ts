/**
 * The low-level calls, as the `ip` / `nft` walk-through people do by hand to
 * wire a namespace to a bridge with NAT out. Each call names the command it
 * replaces; nothing is spawned but the final ping.
 *
 *   npm run build && sudo node dist/examples/walkthrough.js
 */
import { NetNS, Nft, Rtnl, sysctl } from 'netplumb';

import { sh } from './shell';

async function main(): Promise<void> {
  const host = await Rtnl.open(); // this namespace: plain `ip ...`
  const nft = await Nft.open();
  const forwarding = await sysctl.get('net.ipv4.ip_forward');
  let web: NetNS | undefined;
  let inside: Rtnl | undefined;
  try {
    web = await NetNS.create('ex-walk'); //                       ip netns add ex-walk
    await host.links.add({ kind: 'bridge', name: 'exbr0', up: true }); // ip link add exbr0 type bridge; ip link set exbr0 up
    await host.addrs.add('exbr0', '10.89.42.1/24'); //           ip addr add 10.89.42.1/24 dev exbr0
    await host.links.add({
      kind: 'veth', //                                            ip link add exveth0 master exbr0 up
      name: 'exveth0', //                                           type veth peer name eth0 netns ex-walk
      master: 'exbr0',
      up: true,
      peer: { name: 'eth0', netns: web }, // the peer is born inside ex-walk, never moved
    });
    inside = await Rtnl.open(web); //                             ip -n ex-walk ...
    await inside.links.set('lo', { up: true }); //                ip -n ex-walk link set lo up
    await inside.links.set('eth0', { up: true }); //              ip -n ex-walk link set eth0 up
    await inside.addrs.add('eth0', '10.89.42.2/24'); //           ip -n ex-walk addr add 10.89.42.2/24 dev eth0
    await inside.routes.add({ dst: 'default', gateway: '10.89.42.1' }); // ip -n ex-walk route add default via 10.89.42.1
    await sysctl.set('net.ipv4.ip_forward', '1'); //              sysctl -w net.ipv4.ip_forward=1

    // nft -f - <<< 'table ip ex_walk { chain post { type nat hook postrouting priority srcnat;
    //                  ip saddr 10.89.42.0/24 oifname != "exbr0" masquerade } }'   (one atomic batch)
    await nft
      .transaction()
      .addTable({ family: 'ip', name: 'ex_walk' })
      .addChain({
        family: 'ip',
        table: 'ex_walk',
        name: 'post',
        type: 'nat',
        hook: 'postrouting',
        priority: 'srcnat',
      })
      .addRule({
        family: 'ip',
        table: 'ex_walk',
        chain: 'post',
        expr: [
          { match: 'ip saddr', value: '10.89.42.0/24' },
          { match: 'oifname', op: '!=', value: 'exbr0' },
          { masquerade: true },
        ],
      })
      .commit();

    // What was built, read back through the same API (ip -n ex-walk -br addr; ip -n ex-walk route; nft list table ip ex_walk).
    for (const a of await inside.addrs.list({ family: 4 })) {
      const link = await inside.links.get(a.index);
      console.log(`inside: ${link.name} ${link.up ? 'UP' : 'DOWN'} ${a.cidr}`);
    }
    for (const r of await inside.routes.list({ family: 4 })) {
      console.log(`inside: route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`);
    }
    const veth = await host.links.get('exveth0');
    console.log(
      `host: ${veth.name} master ${(await host.links.get(veth.master!)).name}, peer ifindex ${veth.link}`,
    );
    const rules = await nft.listRules({ family: 'ip', table: 'ex_walk' });
    console.log(`nft: table ip ex_walk, ${rules.length} rule: ${JSON.stringify(rules[0]!.expr)}`);

    // And traffic: ip netns exec ex-walk ping -c 1 10.89.42.1
    await sh(['ping', '-c', '1', '-W', '2', '10.89.42.1'], 'ex-walk');
    console.log('ping from ex-walk to the bridge: answered');
  } finally {
    await inside?.close();
    await nft
      .transaction()
      .deleteTable({ family: 'ip', name: 'ex_walk' }) //         nft delete table ip ex_walk
      .commit()
      .catch(() => undefined);
    if (await host.links.find('exveth0')) await host.links.del('exveth0'); // ip link del exveth0 (both ends)
    if (await host.links.find('exbr0')) await host.links.del('exbr0'); //     ip link del exbr0
    await web?.delete(); //                                       ip netns delete ex-walk
    await sysctl.set('net.ipv4.ip_forward', forwarding);
    await nft.close();
    await host.close();
  }
  console.log('removed');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
