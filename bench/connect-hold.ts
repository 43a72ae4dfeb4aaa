// `npm run bench -- connect-hold [--baseline]`: head-end RSS growth while 400 strangers hold
// unfinished CONNECTs on the embedded broker (goal <= 50 MB); `--baseline` adds the old limits.
import { measureConnectHold } from './_connect-hold.ts';
import { result } from './_report.ts';

result('connect-hold', { ...(await measureConnectHold(process.argv.includes('--baseline'))) });
