// Latency histogram for the simulator: log-spaced buckets (2% wide) from 1 us to ~3 hours, so a
// percentile of millions of samples costs one pass over ~1000 counters and no sample storage.

const MIN = 0.001;
const RATIO = 1.02;
const LOG_RATIO = Math.log(RATIO);
const BUCKETS = 1200;

export class LogHistogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  max = 0;

  add(ms: number): void {
    const b = ms <= MIN ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(ms / MIN) / LOG_RATIO) + 1);
    this.counts[b] = (this.counts[b] as number) + 1;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  get mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count;
  }

  /** The p-th percentile (0..100), nearest rank, to within one bucket (2%). */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let acc = 0;
    for (let b = 0; b < BUCKETS; b++) {
      acc += this.counts[b] as number;
      if (acc >= rank) return b === 0 ? MIN : Math.min(this.max, MIN * Math.pow(RATIO, b - 0.5));
    }
    return this.max;
  }

  merge(o: LogHistogram): void {
    for (let b = 0; b < BUCKETS; b++) this.counts[b] = (this.counts[b] as number) + (o.counts[b] as number);
    this.count += o.count;
    this.sum += o.sum;
    this.max = Math.max(this.max, o.max);
  }
}
