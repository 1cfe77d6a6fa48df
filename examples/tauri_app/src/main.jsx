import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { MizanProvider } from '@mizan/kernel-wasm/react';
import { client } from './client.js';
import { App } from './App.jsx';
import './styles.css';

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <MizanProvider client={client}>
      <App />
    </MizanProvider>
  </StrictMode>,
);
