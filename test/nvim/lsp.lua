-- Neovim 0.7 headless: attach the built-in LSP client to `klp-lens serve --stdio`
-- on a patch buffer, wait for pushed diagnostics, ask for document symbols and
-- a hover, and write what arrived as JSON for test/nvim/nvim.e2e.ts to check.
local out = os.getenv('KLP_OUT')
local ok, err = pcall(function()
  local root = os.getenv('KLP_ROOT')
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('KLP_PATCH')))
  local buf = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start_client({
    name = 'livepatch-lens',
    cmd = { os.getenv('KLP_NODE') or 'node', '--max-semi-space-size=4', '--expose-gc', root .. '/out/cli.js', 'serve', '--stdio' },
    root_dir = root,
    settings = { livepatchLens = { debounceMs = 0 } },
  })
  assert(client_id, 'the client did not start')
  vim.lsp.buf_attach_client(buf, client_id)
  local got = vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 100)
  local diags = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    local lsp = (d.user_data or {}).lsp or {}
    table.insert(diags, { lnum = d.lnum, col = d.col, severity = d.severity, source = d.source, message = d.message, code = lsp.code or d.code })
  end
  local params = { textDocument = vim.lsp.util.make_text_document_params() }
  local symbols = vim.lsp.buf_request_sync(buf, 'textDocument/documentSymbol', params, 15000) or {}
  local names = {}
  for _, r in pairs(symbols) do
    local function walk(list)
      for _, s in ipairs(list or {}) do
        table.insert(names, s.name)
        walk(s.children)
      end
    end
    walk(r.result)
  end
  local f = assert(io.open(out, 'w'))
  f:write(vim.fn.json_encode({ attached = true, got = got, diagnostics = diags, symbols = names }))
  f:close()
  vim.lsp.stop_client(client_id)
end)
if not ok then
  local f = io.open(out, 'w')
  if f then
    f:write(vim.fn.json_encode({ error = tostring(err) }))
    f:close()
  end
  vim.cmd('cq!')
else
  vim.cmd('qa!')
end
