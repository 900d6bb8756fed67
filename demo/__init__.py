"""The live demo (``queue-rebate demo``): the real server and a fake WeChat in one process,
a mall's members shopping through HTTP, and each queue's progress in the terminal and at a URL.

``demo.live`` starts both servers and tells the story (``demo.story``); ``demo.page`` is the
read-only web page the demo process serves at ``/demo``.
"""
