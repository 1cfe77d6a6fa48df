import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { MizanContext } from '../api/react.js';
import { makeClient } from '../client.js';
import { App } from './App.js';
import '../style.css';

const client = makeClient();

createRoot(document.getElementById('app')!).render(
  <StrictMode>
    <MizanContext client={client}>
      <App client={client} />
    </MizanContext>
  </StrictMode>,
);
