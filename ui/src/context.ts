/**
 * What every panel shares: the app, the calling user's permissions, and ways to open things.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { PageConfig } from '@jupyterlab/coreutils';
import { ISignal, Signal } from '@lumino/signaling';

import { Me } from './api';

export class StudioContext {
  constructor(
    readonly app: JupyterFrontEnd,
    readonly me: Me
  ) {}

  /** Emitted after anything changed recipes or jobs, so open panels refresh at once. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  notifyChanged(): void {
    this._changed.emit();
  }

  /** Opens a file of the server's tree (a notebook opens as a notebook). */
  async openPath(path: string): Promise<void> {
    await this.app.commands.execute('docmanager:open', { path: this.relative(path) });
  }

  /** A path the server may answer as absolute, relative to JupyterLab's root. */
  relative(path: string): string {
    const root = (PageConfig.getOption('serverRoot') || '').replace(/\/+$/, '');
    if (root && path.startsWith(root + '/')) {
      return path.slice(root.length + 1);
    }
    const history = path.lastIndexOf('/history/');
    if (path.startsWith('/') && history >= 0) {
      return path.slice(history + 1); // the server's root is the workspace
    }
    return path;
  }

  /** Opens a recipe notebook: recipes live under the workspace's projects/ folder. */
  async openRecipe(recipe: string): Promise<void> {
    await this.openPath(`projects/${recipe}`);
  }

  private _changed = new Signal<this, void>(this);
}
