/**
 * The ES module entry point: `import { Engine } from 'netplumb'` gets the
 * same named exports, and the same types, as `require('netplumb')`. The
 * package is built as CommonJS; this names its exports one by one (an
 * `export *` would also hand out CommonJS's `__esModule` marker), and a
 * unit test checks the two lists agree.
 */
export {
  NetNS,
  NETNS_RUN_DIR,
  validateNetnsName,
  Rtnl,
  Monitor,
  Nft,
  Transaction,
  sysctl,
  NetlinkError,
  NftCommitError,
  NftRepliesLostError,
  ConntrackFlushError,
  ValidationError,
  ConflictError,
  NotFoundError,
  constants,
  Engine,
  Conntrack,
} from './index.js';
export type * from './index.js';
