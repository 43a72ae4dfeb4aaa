// headend/services: head-end service processes behind the local service interface [c34-c36].
export { ServiceHost, SERVICE_OP_PREFIX } from './service-host.ts';
export type { ServiceHostOptions, ServiceHostStats } from './service-host.ts';
export { guideService, epgService, buildGuide } from './guide-data.ts';
export type { Programme, GuideOptions } from './guide-data.ts';
export { vodService, DEFAULT_TITLES } from './vod.ts';
export type { Title, Order, VodOptions } from './vod.ts';
export { checkArgs } from './service.ts';
export type { HeadendService, MethodSpec, ArgSpec, Args, CallerInfo } from './service.ts';
export { servicesMarkdown, defaultServices } from './services-doc.ts';
