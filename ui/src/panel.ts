/**
 * A panel that shows the store as it is now: refreshed when the studio says something
 * changed (an action in another panel), when it is shown again, and every `period` ms while
 * it is shown (a job another process runs, a schedule that fired).
 */
import { Widget } from '@lumino/widgets';

import { StudioContext } from './context';

export abstract class LivePanel extends Widget {
  constructor(ctx: StudioContext, period: number) {
    super();
    ctx.changed.connect(() => void this.refresh(), this); // disconnected by dispose()
    this.timer = window.setInterval(() => this.tick(), period);
  }

  /** Shows the store's state now. */
  abstract refresh(): Promise<void>;

  dispose(): void {
    window.clearInterval(this.timer);
    super.dispose();
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  /** The period's refresh, unless the last one is still under way: each request makes the
   * answer of the one before it stale (`latest`), so on a server slower to answer than the
   * period every answer was dropped, and the panel never showed anything. */
  private tick(): void {
    if (!this.isVisible || this.ticking) {
      return;
    }
    this.ticking = true;
    void this.refresh().finally(() => {
      this.ticking = false;
    });
  }

  private timer: number;
  private ticking = false;
}
