"""The agent may answer (a refusal) before it reads the request and then
close the connection: the hook must still read that answer, not fail with
'Broken pipe' when the agent is quicker than the hook's send."""

import os
import socket
import threading

from vif_driver.hook import client
from vif_driver.hook.protocol import Request, Response


def test_an_answer_sent_before_the_request_was_read_reaches_the_hook(tmp_path):
    path = os.path.join(str(tmp_path), "agent.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(30)

    def refuse():
        conn, _ = listener.accept()
        with conn:
            conn.sendall(client.response_message(Response(2, messages=["uid 995 may not use the agent"])))
        # closed with the request unread, as the agent does for a refused peer

    agent = threading.Thread(target=refuse)
    agent.start()
    try:
        # more than a unix socket buffers: the hook is still sending when the agent closes
        request = Request("before_device_create", "<interface/>" + " " * (2 << 20), {})
        answer = client.call(request, path)
    finally:
        agent.join(30)
        listener.close()
    assert answer.exit_code == 2 and answer.messages == ["uid 995 may not use the agent"]
