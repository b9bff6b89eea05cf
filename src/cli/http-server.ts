import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { ConfigError } from '../config.ts';

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

/** Listens, turning the usual bind failures into a one-line ConfigError about PORT or HOST. */
export function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  port: number,
  hostname: string,
) {
  return new Promise<HttpServer>((resolve, reject) => {
    const server = serve({ fetch, port, hostname });
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        reject(new ConfigError('PORT', `${port} is already in use on ${hostname}`));
      else if (error.code === 'EACCES') reject(new ConfigError('PORT', `no permission to listen on ${port}`));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND')
        reject(new ConfigError('HOST', `${hostname} is not an address of this machine`));
      else reject(error);
    });
    server.once('listening', () => {
      const address = server.address() as AddressInfo;
      resolve({
        port: address.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // Keep-alive connections would hold close() open; in-flight requests have finished by now.
            if ('closeAllConnections' in server) server.closeAllConnections();
          }),
      });
    });
  });
}
