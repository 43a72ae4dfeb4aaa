// The `weft` command's composition root: each subcommand lives in its own file under cli/ and
// registers itself here. Only this folder (and */main.ts) constructs concrete adapters.
import { Command } from 'commander';
import { registerDemo } from './demo.ts';
import { registerCarousel } from './carousel.ts';
import { registerHeadend } from './headend.ts';
import { registerBox } from './box.ts';
import { registerFleet } from './fleet.ts';
import { registerLab } from './lab.ts';

const program = new Command();
program
  .name('weft')
  .description('Weft: distributed applications for set-top boxes and cable head-ends')
  .showHelpAfterError()
  .configureOutput({ outputError: (s, write) => write(s) });

registerDemo(program);
registerCarousel(program);
registerHeadend(program);
registerBox(program);
registerFleet(program);
registerLab(program);

await program.parseAsync(process.argv);
