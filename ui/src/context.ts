/**
 * What every panel shares: the app, the calling user's permissions, and ways to open things.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { PageConfig } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { Me } from './api';

/** What became of a job's output notebook that is not where the job wrote it (the API's
 * `output_missing`, which `lpstudio show` says as "missing: moved or deleted from history/"),
 * and the fix. */
export const OUTPUT_MISSING = 'moved or deleted from history/; put it back in history/ to open it';

/** The studio's commands (the palette, the launcher and the panels run them). */
export namespace CommandIDs {
  export const gallery = 'lpstudio:open-gallery';
  export const recipes = 'lpstudio:open-recipes';
  export const jobs = 'lpstudio:open-jobs';
  export const dashboard = 'lpstudio:open-dashboard';
  export const connections = 'lpstudio:open-connections';
  export const settings = 'lpstudio:open-settings';
  export const tryTemplate = 'lpstudio:try-template';
  export const openPanel = 'lpstudio:open-panel';
}

/** What lpstudio uses of a document widget (JupyterLab's `IDocumentWidget`). */
interface IOpenDocument {
  context: { path: string; revert(): Promise<void> };
}

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

  /**
   * Opens a job's output notebook as it is now. Output notebooks are read-only (job history
   * is written by its job alone), so one already open in a tab is reloaded from disk before
   * it is shown: the tab kept the snapshot taken when it was first opened. One moved or
   * deleted is refused with the fix (JupyterLab opened an empty tab, a 404 in the console).
   */
  async openOutput(path: string): Promise<void> {
    const relative = this.relative(path);
    try {
      await this.app.serviceManager.contents.get(relative, { content: false });
    } catch (err) {
      if (err instanceof ServerConnection.ResponseError && err.response.status === 404) {
        throw new Error(`the output notebook ${relative} is missing: ${OUTPUT_MISSING}`);
      }
      throw err;
    }
    const open = this.openDocument(relative);
    if (open) {
      await open.context.revert();
    }
    await this.openPath(path);
  }

  /** The main area's document open at `path` (relative to JupyterLab's root), if any. */
  private openDocument(path: string): IOpenDocument | undefined {
    for (const widget of this.app.shell.widgets('main')) {
      const context = (widget as Partial<IOpenDocument>).context;
      if (context?.path === path && typeof context.revert === 'function') {
        return widget as unknown as IOpenDocument;
      }
    }
    return undefined;
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

  /** Opens the Connections panel, where the lab creates, tests and edits connections. */
  async openConnections(): Promise<void> {
    await this.app.commands.execute(CommandIDs.connections);
  }

  /** Opens a recipe notebook: recipes live under the workspace's projects/ folder. */
  async openRecipe(recipe: string): Promise<void> {
    await this.openPath(`projects/${recipe}`);
  }

  private _changed = new Signal<this, void>(this);
}
