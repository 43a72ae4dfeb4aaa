// Writes docs/SERVICES.md from the services' schemas: `npm run docs:services`.
import { writeFileSync } from 'node:fs';
import { defaultServices, servicesMarkdown } from '../headend/services/index.ts';

writeFileSync(new URL('../docs/SERVICES.md', import.meta.url), servicesMarkdown(defaultServices()));
console.log('wrote docs/SERVICES.md');
